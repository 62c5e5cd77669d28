// System health (each dependency with its latency, the search index's lag and the job
// queue's depth; latencies charted while the page is open) and the full-text reindex with its
// progress.

import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { ProgressBar } from '../ui/ProgressBar';
import { TrendChart, type ChartSeries } from '../ui/TrendChart';
import { formatDateTime, formatNumber, userLocale } from '../fhir/format';
import type { AdminHealth, HealthStatus } from '../api/types';
import { jobRunning, useAdminJob } from './hooks';
import { isMessageKey, translate as t } from '../i18n/core';

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

/** A health status in words (an unknown one as it comes). */
export function healthStatus(status: HealthStatus): string {
  const key = `adm.health.${status}`;
  return isMessageKey(key) ? t(key) : status;
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
  return ms < 10 ? `${new Intl.NumberFormat(userLocale(), { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(ms)} ms` : `${formatNumber(Math.round(ms))} ms`;
}

function latencySeries(name: string, points: { at: number; value: number }[]): ChartSeries {
  return { label: t('adm.health.latency', { name }), unit: 'ms', points: points.map((p) => ({ at: p.at, value: Math.round(p.value * 10) / 10 })) };
}

function HealthChecks() {
  const client = useClient();
  const health = useQuery({ queryKey: ['admin', 'health'], queryFn: () => client.adminHealth(), refetchInterval: 10_000, staleTime: 0 });
  const [samples, setSamples] = useState<Samples>({});
  useEffect(() => {
    if (health.data) setSamples((current) => addSamples(current, health.data));
  }, [health.data]);
  return (
    <Section title={t('adm.health.title')} id="health">
      <QueryState query={health} loadingLabel={t('adm.health.checking')}>
        {(h) => (
          <>
            <p data-testid="health-status">
              <Badge tone={healthTone(h.status)}>{t('adm.health.overall', { status: healthStatus(h.status) })}</Badge>{' '}
              <span className="muted">{t('adm.health.checked', { when: formatDateTime(h.checked_at) })}</span>
            </p>
            <div className="table-wrap">
              <table className="health-table">
                <caption className="visually-hidden">{t('adm.health.caption')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('adm.health.dependency')}</th>
                    <th scope="col">{t('adm.col.state')}</th>
                    <th scope="col">{t('adm.health.latencyCol')}</th>
                    <th scope="col">{t('adm.health.detailsCol')}</th>
                  </tr>
                </thead>
                <tbody>
                  {h.checks.map((check) => (
                    <tr key={check.name}>
                      <th scope="row">{check.name}</th>
                      <td>
                        <Badge tone={healthTone(check.status)}>{healthStatus(check.status)}</Badge>
                      </td>
                      <td className="num">{check.status === 'not-configured' ? '—' : formatLatency(check.latency_ms)}</td>
                      <td>
                        {[
                          check.lag !== undefined && check.lag !== null ? t('adm.health.lag', { n: check.lag }) : null,
                          check.depth !== undefined && check.depth !== null ? t('adm.health.depth', { n: check.depth }) : null,
                          check.oldest_pending_at ? t('adm.health.oldest', { when: formatDateTime(check.oldest_pending_at) }) : null,
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
            <h3 className="history-heading">{t('adm.health.history')}</h3>
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
    <Section title={t('adm.reindex.title')} id="reindex">
      <p>{t('adm.reindex.intro')}</p>
      {jobId ? (
        <div data-testid="reindex-job">
          <ProgressBar
            label={t('adm.reindex.label')}
            progress={job.data?.progress}
            waiting={status === 'pending'}
            finished={status === 'completed'}
            failed={status === 'failed' || status === 'cancelled'}
          />
          {status === 'completed' ? (
            <p className="form-success" role="status">
              {job.data?.finished_at ? t('adm.reindex.completeAt', { when: formatDateTime(job.data.finished_at) }) : t('adm.reindex.complete')}
            </p>
          ) : null}
          {status === 'failed' || status === 'cancelled' ? (
            <p className="form-error" role="alert">
              {job.data?.error
                ? t('adm.reindex.failedWith', { status: t(`job.${status}`), error: job.data.error })
                : t(status === 'failed' ? 'adm.reindex.failed' : 'adm.reindex.cancelled')}
            </p>
          ) : null}
        </div>
      ) : null}
      <FormError error={start.error ?? job.error} />
      <button type="button" className="primary" onClick={() => start.mutate()} disabled={start.isPending || running}>
        {running ? t('adm.reindex.running') : t('adm.reindex.start')}
      </button>
    </Section>
  );
}

export function SystemPage() {
  return (
    <>
      <PageTitle>{t('adm.system.title')}</PageTitle>
      <HealthChecks />
      <Reindex />
    </>
  );
}
