// System health (each dependency with its latency, the search index's lag and the job
// queue's depth; latencies charted while the page is open) and the full-text reindex with its
// progress.

import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { ProgressBar } from '../ui/ProgressBar';
import { TrendChart, type ChartSeries } from '../ui/TrendChart';
import { formatDateTime } from '../fhir/format';
import type { AdminHealth, HealthStatus } from '../api/types';
import { jobRunning, useAdminJob } from './hooks';

export function healthTone(status: HealthStatus): 'good' | 'warn' | 'bad' | 'neutral' {
  switch (status) {
    case 'ok':
      return 'good';
    case 'degraded':
      return 'warn';
    case 'down':
      return 'bad';
    default:
      return 'neutral';
  }
}

/** Latency samples by check name, the newest `keep` of each. */
export type Samples = Record<string, { at: number; value: number }[]>;

export function addSamples(samples: Samples, health: AdminHealth, keep = 30): Samples {
  const at = Date.parse(health.checked_at);
  const next: Samples = { ...samples };
  for (const check of health.checks) {
    if (check.status === 'not-configured' || !Number.isFinite(at)) continue;
    const series = next[check.name] ?? [];
    if (series.length && series[series.length - 1].at === at) continue;
    next[check.name] = [...series, { at, value: check.latency_ms }].slice(-keep);
  }
  return next;
}

/** A probe's latency for reading: a tenth of a millisecond below 10 ms, whole milliseconds above. */
export function formatLatency(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms).toLocaleString('en-US')} ms`;
}

function latencySeries(name: string, points: { at: number; value: number }[]): ChartSeries {
  return { label: `${name} latency`, unit: 'ms', points: points.map((p) => ({ at: p.at, value: Math.round(p.value * 10) / 10 })) };
}

function HealthChecks() {
  const client = useClient();
  const health = useQuery({ queryKey: ['admin', 'health'], queryFn: () => client.adminHealth(), refetchInterval: 10_000, staleTime: 0 });
  const [samples, setSamples] = useState<Samples>({});
  useEffect(() => {
    if (health.data) setSamples((current) => addSamples(current, health.data));
  }, [health.data]);
  return (
    <Section title="Health" id="health">
      <QueryState query={health} loadingLabel="Checking the system…">
        {(h) => (
          <>
            <p data-testid="health-status">
              <Badge tone={healthTone(h.status)}>Overall: {h.status}</Badge> <span className="muted">Checked {formatDateTime(h.checked_at)}; checked again every 10 seconds.</span>
            </p>
            <div className="table-wrap">
              <table className="health-table">
                <caption className="visually-hidden">Dependencies and their state</caption>
                <thead>
                  <tr>
                    <th scope="col">Dependency</th>
                    <th scope="col">State</th>
                    <th scope="col">Latency</th>
                    <th scope="col">Details</th>
                  </tr>
                </thead>
                <tbody>
                  {h.checks.map((check) => (
                    <tr key={check.name}>
                      <th scope="row">{check.name}</th>
                      <td>
                        <Badge tone={healthTone(check.status)}>{check.status}</Badge>
                      </td>
                      <td className="num">{check.status === 'not-configured' ? '—' : formatLatency(check.latency_ms)}</td>
                      <td>
                        {[
                          check.lag !== undefined && check.lag !== null ? `${check.lag.toLocaleString('en-US')} changes not yet indexed` : null,
                          check.depth !== undefined && check.depth !== null ? `${check.depth.toLocaleString('en-US')} jobs waiting` : null,
                          check.oldest_pending_at ? `oldest since ${formatDateTime(check.oldest_pending_at)}` : null,
                          check.detail,
                        ]
                          .filter(Boolean)
                          .join('; ') || '—'}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <h3 className="history-heading">Latency while this page is open</h3>
            <ul className="chart-grid">
              {Object.entries(samples).map(([name, points]) => (
                <li key={name} className="chart-card">
                  <h4 className="chart-title">{name}</h4>
                  <TrendChart series={latencySeries(name, points)} axis="time" />
                </li>
              ))}
            </ul>
          </>
        )}
      </QueryState>
    </Section>
  );
}

function Reindex() {
  const client = useClient();
  const queryClient = useQueryClient();
  const [jobId, setJobId] = useState<string | null>(null);
  const start = useMutation({ mutationFn: () => client.reindex(), onSuccess: (accepted) => setJobId(accepted.job_id) });
  const job = useAdminJob(jobId);
  const running = jobId !== null && (!job.data || jobRunning(job.data));
  const status = job.data?.status;
  useEffect(() => {
    if (status && status !== 'pending' && status !== 'processing') void queryClient.invalidateQueries({ queryKey: ['admin', 'health'] });
  }, [status, queryClient]);
  return (
    <Section title="Search index" id="reindex">
      <p>
        Rebuilds the full-text index from the stored resources (the stored resources are the ground truth; searching keeps working while it
        runs).
      </p>
      {jobId ? (
        <div data-testid="reindex-job">
          <ProgressBar
            label="Reindexing"
            progress={job.data?.progress}
            waiting={status === 'pending'}
            finished={status === 'completed'}
            failed={status === 'failed' || status === 'cancelled'}
          />
          {status === 'completed' ? (
            <p className="form-success" role="status">
              Reindex complete{job.data?.finished_at ? ` (${formatDateTime(job.data.finished_at)})` : ''}.
            </p>
          ) : null}
          {status === 'failed' || status === 'cancelled' ? (
            <p className="form-error" role="alert">
              Reindex {status}
              {job.data?.error ? `: ${job.data.error}` : '.'}
            </p>
          ) : null}
        </div>
      ) : null}
      <FormError error={start.error ?? job.error} />
      <button type="button" className="primary" onClick={() => start.mutate()} disabled={start.isPending || running}>
        {running ? 'Reindexing…' : 'Rebuild the search index'}
      </button>
    </Section>
  );
}

export function SystemPage() {
  return (
    <>
      <PageTitle>System</PageTitle>
      <HealthChecks />
      <Reindex />
    </>
  );
}
