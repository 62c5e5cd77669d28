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
import { isMessageKey, translate as t } from '../i18n/core';

/** A verification result read from a job's `result` (`null` when it is not one). */
export function verifyResult(result: Record<string, unknown> | null | undefined): AuditVerifyResult | null {
  if (!result || typeof result.records !== 'number' || typeof result.ok !== 'boolean') return null;
  return result as unknown as AuditVerifyResult;
}

/** A job status in words (an unknown one as it comes). */
function jobStatus(status: string): string {
  const key = `job.${status}`;
  return isMessageKey(key) ? t(key) : status;
}

/** The sentence of a result. */
export function chainSummary(result: AuditVerifyResult): string {
  const records = t('adm.chain.records', { count: result.records });
  if (result.ok) return t('adm.chain.intact', { records });
  const broken = result.first_broken;
  return broken ? t('adm.chain.brokenAt', { seq: String(broken.seq), reason: broken.reason, records }) : t('adm.chain.broken', { records });
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
    <Section title={t('adm.chain.title')} id="chain-status">
      <div data-testid="chain-status" className="chain-status">
        {latest.isPending ? (
          <Loading label={t('adm.chain.reading')} />
        ) : latest.isError ? (
          <ErrorMessage error={latest.error} title={t('adm.chain.unreadable')} />
        ) : shown ? (
          <p>
            <Badge tone={shown.ok ? 'good' : 'bad'}>{shown.ok ? t('adm.chain.intactBadge') : t('adm.chain.brokenBadge')}</Badge> {chainSummary(shown)}{' '}
            {shownAt ? <span className="muted">{t('adm.chain.verifiedAt', { when: formatDateTime(shownAt) })}</span> : null}
          </p>
        ) : finished && job.data!.status !== 'completed' ? (
          <p>
            <Badge tone="bad">{t('adm.chain.verification', { status: jobStatus(job.data!.status) })}</Badge> {job.data!.error ?? ''}
          </p>
        ) : latest.data && jobRunning(latest.data) ? (
          <p>
            <Badge tone="info">{t('adm.chain.running')}</Badge>
          </p>
        ) : (
          <p>
            <Badge tone="warn">{t('adm.chain.never')}</Badge> {t('adm.chain.neverText')}
          </p>
        )}
      </div>
      {running ? (
        <ProgressBar label={t('adm.chain.progress')} progress={job.data?.progress} waiting={job.data?.status === 'pending'} />
      ) : null}
      <FormError error={start.error ?? job.error} />
      <button type="button" onClick={() => start.mutate()} disabled={start.isPending || running}>
        {running ? t('adm.chain.verifying') : t('adm.chain.verify')}
      </button>
    </Section>
  );
}
