// Lab-report upload for a patient, with the job's live status (told over the websocket, or
// polled until it settles while the socket is down) and
// the patient's earlier uploads.

import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient, useLive } from '../ui/session';
import { FALLBACK_POLL_MS } from '../fhir/live';
import { Empty, ErrorMessage, Field, FormError, Loading, Section, isNotFound } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import { jobActive, type DocumentJob } from '../api/types';
import { JobStatusBadge } from '../ui/jobs';
import { translate as t } from '../i18n/core';

export { JobStatusBadge };

function resultCount(job: DocumentJob): number {
  return (job.resources ?? []).filter((r) => r.startsWith('Observation/')).length;
}

/** One job, polled while it is queued or processing; `fresh` when uploaded on this page. */
function JobRow({ jobId, fresh }: { jobId: string; fresh: boolean }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const locale = userLocale();
  const settled = useRef(!fresh);
  const live = useLive();
  const job = useQuery({
    queryKey: ['documents', 'job', jobId],
    queryFn: async () => {
      const next = await client.documentJob(jobId);
      if (!settled.current && !jobActive(next.status)) {
        // Results were written: refresh the patient's data and the job lists.
        settled.current = true;
        void queryClient.invalidateQueries({ queryKey: ['fhir'] });
        void queryClient.invalidateQueries({ queryKey: ['documents', 'jobs'] });
      }
      return next;
    },
    // Live updates say when it changes; polled only while the socket is down.
    refetchInterval: (query) => (live || (query.state.data && !jobActive(query.state.data.status)) ? false : FALLBACK_POLL_MS),
  });
  const accept = useMutation({
    mutationFn: () => client.acceptDocumentJob(jobId),
    onSuccess: () => {
      // The job publishes the accepted results: poll it again until it settles.
      settled.current = false;
      void queryClient.invalidateQueries({ queryKey: ['documents'] });
    },
  });
  if (job.isPending) return <li><Loading label={t('docs.checking')} /></li>;
  if (job.isError) return <li><ErrorMessage error={job.error} title={t('docs.failed')} /></li>;
  const data = job.data;
  return (
    <li className="job" data-status={data.status} aria-live="polite">
      <JobStatusBadge status={data.status} /> <strong>{data.file_name ?? t('documents.untitled')}</strong>{' '}
      <span className="muted">{formatDateTime(data.created, locale)}</span>
      {data.status === 'completed' ? <span> — {t('docs.added', { count: resultCount(data) })}</span> : null}
      {data.status === 'failed' && data.error ? <span className="form-error"> — {data.error}</span> : null}
      {data.status === 'needs_review' ? (
        <>
          <span> — {t('docs.needCheck', { count: data.review?.results.length ?? 0 })}</span>{' '}
          <button type="button" onClick={() => accept.mutate()} disabled={accept.isPending}>
            {t('docs.accept')}
          </button>
          <FormError error={accept.error} />
        </>
      ) : null}
    </li>
  );
}

export function DocumentsPanel({ patientId }: { patientId: string }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [started, setStarted] = useState<string[]>([]);
  const inputRef = useRef<HTMLInputElement>(null);
  const jobs = useQuery({ queryKey: ['documents', 'jobs'], queryFn: () => client.documentJobs() });
  const upload = useMutation({
    mutationFn: (chosen: File) => client.uploadDocument(`Patient/${patientId}`, chosen),
    onSuccess: (submitted) => {
      setStarted((ids) => [submitted.job_id, ...ids]);
      setFile(null);
      if (inputRef.current) inputRef.current.value = '';
      void queryClient.invalidateQueries({ queryKey: ['documents', 'jobs'] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (file) upload.mutate(file);
  };
  const earlier = (jobs.data ?? []).filter((j) => j.patient === `Patient/${patientId}` && !started.includes(j.id));
  const unavailable = jobs.isError && isNotFound(jobs.error);
  return (
    <Section title={t('nav.documents')} id="documents">
      {unavailable ? (
        <Empty>{t('documents.unavailable')}</Empty>
      ) : (
        <>
          <form className="inline-form" onSubmit={submit}>
            <Field label={t('documents.file')} id="document-file">
              <input
                ref={inputRef}
                id="document-file"
                type="file"
                accept=".pdf,.txt,.png,.jpg,.jpeg,.tif,.tiff,application/pdf,text/plain,image/*"
                onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              />
            </Field>
            <button type="submit" className="primary" disabled={!file || upload.isPending}>
              {upload.isPending ? t('documents.uploading') : t('documents.upload.button')}
            </button>
          </form>
          <FormError error={upload.error} />
          {started.length || earlier.length ? (
            <ul className="plain-list jobs" aria-label={t('docs.uploads')}>
              {started.map((id) => (
                <JobRow key={id} jobId={id} fresh />
              ))}
              {earlier.slice(0, 10).map((job) => (
                <JobRow key={job.id} jobId={job.id} fresh={false} />
              ))}
            </ul>
          ) : jobs.isPending ? (
            <Loading label={t('docs.loading')} />
          ) : jobs.isError ? (
            <ErrorMessage error={jobs.error} />
          ) : (
            <Empty>{t('docs.none')}</Empty>
          )}
        </>
      )}
    </Section>
  );
}
