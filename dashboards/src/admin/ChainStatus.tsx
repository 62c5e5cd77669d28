// The audit log's hash chain: the latest verification, and a button that verifies it again
// (a background job with its progress).

import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, ErrorMessage, FormError, Loading, Section } from '../ui/components';
import { ProgressBar } from '../ui/ProgressBar';
import { formatDateTime } from '../fhir/format';
import type { AuditVerifyResult } from '../api/types';
import { jobRunning, useAdminJob } from './hooks';

/** A verification result read from a job's `result` (`null` when it is not one). */
export function verifyResult(result: Record<string, unknown> | null | undefined): AuditVerifyResult | null {
  if (!result || typeof result.records !== 'number' || typeof result.ok !== 'boolean') return null;
  return result as unknown as AuditVerifyResult;
}

/** The sentence of a result. */
export function chainSummary(result: AuditVerifyResult): string {
  const records = `${result.records.toLocaleString('en-US')} record${result.records === 1 ? '' : 's'}`;
  if (result.ok) return `Intact: ${records} verified, every hash matches.`;
  const broken = result.first_broken;
  return broken ? `Broken at record #${broken.seq}: ${broken.reason}. ${records} checked.` : `Broken. ${records} checked.`;
}

export function ChainStatus() {
  const client = useClient();
  const queryClient = useQueryClient();
  const [jobId, setJobId] = useState<string | null>(null);
  const latest = useQuery({ queryKey: ['admin', 'audit', 'verify'], queryFn: () => client.latestAuditVerification() });
  const start = useMutation({
    mutationFn: () => client.verifyAudit(),
    onSuccess: (accepted) => setJobId(accepted.job_id),
  });
  const job = useAdminJob(jobId);
  const running = jobId !== null && (jobRunning(job.data) || !job.data);
  const finished = Boolean(job.data && !jobRunning(job.data));
  useEffect(() => {
    if (finished) void queryClient.invalidateQueries({ queryKey: ['admin', 'audit', 'verify'] });
  }, [finished, queryClient]);
  const shown = finished ? verifyResult(job.data!.result) : (latest.data?.result ?? null);
  const shownAt = finished ? job.data!.finished_at : (latest.data?.finished_at ?? null);
  return (
    <Section title="Chain status" id="chain-status">
      <div data-testid="chain-status" className="chain-status">
        {latest.isPending ? (
          <Loading label="Reading the latest verification…" />
        ) : latest.isError ? (
          <ErrorMessage error={latest.error} title="The chain status cannot be read" />
        ) : shown ? (
          <p>
            <Badge tone={shown.ok ? 'good' : 'bad'}>{shown.ok ? 'Chain intact' : 'Chain broken'}</Badge> {chainSummary(shown)}{' '}
            {shownAt ? <span className="muted">Verified {formatDateTime(shownAt)}.</span> : null}
          </p>
        ) : finished && job.data!.status !== 'completed' ? (
          <p>
            <Badge tone="bad">Verification {job.data!.status}</Badge> {job.data!.error ?? ''}
          </p>
        ) : latest.data && jobRunning(latest.data) ? (
          <p>
            <Badge tone="info">Verification running</Badge>
          </p>
        ) : (
          <p>
            <Badge tone="warn">Not verified yet</Badge> The chain has not been verified. Verify it to check that no record was changed or removed.
          </p>
        )}
      </div>
      {running ? (
        <ProgressBar label="Verifying the audit chain" progress={job.data?.progress} waiting={job.data?.status === 'pending'} />
      ) : null}
      <FormError error={start.error ?? job.error} />
      <button type="button" onClick={() => start.mutate()} disabled={start.isPending || running}>
        {running ? 'Verifying…' : 'Verify the chain now'}
      </button>
    </Section>
  );
}
