// Lab-report upload for a patient, with the job's live status (polled until it settles) and
// the patient's earlier uploads.

import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { Badge, Empty, ErrorMessage, Field, FormError, Loading, Section, isNotFound } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import { jobActive, type DocumentJob, type JobStatus } from '../api/types';

const STATUS: Record<JobStatus, { label: string; tone: 'neutral' | 'good' | 'warn' | 'bad' | 'info' }> = {
  pending: { label: 'Queued', tone: 'info' },
  processing: { label: 'Processing', tone: 'info' },
  completed: { label: 'Completed', tone: 'good' },
  needs_review: { label: 'Needs review', tone: 'warn' },
  failed: { label: 'Failed', tone: 'bad' },
  cancelled: { label: 'Cancelled', tone: 'neutral' },
};

export function JobStatusBadge({ status }: { status: JobStatus }) {
  const shown = STATUS[status] ?? { label: status, tone: 'neutral' as const };
  return <Badge tone={shown.tone}>{shown.label}</Badge>;
}

function resultCount(job: DocumentJob): number {
  return (job.resources ?? []).filter((r) => r.startsWith('Observation/')).length;
}

/** One job, polled while it is queued or processing; `fresh` when uploaded on this page. */
function JobRow({ jobId, fresh }: { jobId: string; fresh: boolean }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const locale = userLocale();
  const settled = useRef(!fresh);
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
    refetchInterval: (query) => (query.state.data && !jobActive(query.state.data.status) ? false : 1000),
  });
  const accept = useMutation({
    mutationFn: () => client.acceptDocumentJob(jobId),
    onSuccess: () => {
      // The job publishes the accepted results: poll it again until it settles.
      settled.current = false;
      void queryClient.invalidateQueries({ queryKey: ['documents'] });
    },
  });
  if (job.isPending) return <li><Loading label="Checking the job…" /></li>;
  if (job.isError) return <li><ErrorMessage error={job.error} title="Cannot read the job" /></li>;
  const data = job.data;
  return (
    <li className="job" data-status={data.status} aria-live="polite">
      <JobStatusBadge status={data.status} /> <strong>{data.file_name ?? 'Document'}</strong>{' '}
      <span className="muted">{formatDateTime(data.created, locale)}</span>
      {data.status === 'completed' ? <span> — {resultCount(data)} results added</span> : null}
      {data.status === 'failed' && data.error ? <span className="form-error"> — {data.error}</span> : null}
      {data.status === 'needs_review' ? (
        <>
          <span> — {data.review?.results.length ?? 0} results need a check before they are filed.</span>{' '}
          <button type="button" onClick={() => accept.mutate()} disabled={accept.isPending}>
            Accept results
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
    <Section title="Documents" id="documents">
      {unavailable ? (
        <Empty>Document processing is not available on this server.</Empty>
      ) : (
        <>
          <form className="inline-form" onSubmit={submit}>
            <Field label="Lab report (PDF, image or text)" id="document-file">
              <input
                ref={inputRef}
                id="document-file"
                type="file"
                accept=".pdf,.txt,.png,.jpg,.jpeg,.tif,.tiff,application/pdf,text/plain,image/*"
                onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              />
            </Field>
            <button type="submit" className="primary" disabled={!file || upload.isPending}>
              {upload.isPending ? 'Uploading…' : 'Upload'}
            </button>
          </form>
          <FormError error={upload.error} />
          {started.length || earlier.length ? (
            <ul className="plain-list jobs" aria-label="Uploads">
              {started.map((id) => (
                <JobRow key={id} jobId={id} fresh />
              ))}
              {earlier.slice(0, 10).map((job) => (
                <JobRow key={job.id} jobId={job.id} fresh={false} />
              ))}
            </ul>
          ) : jobs.isPending ? (
            <Loading label="Loading uploads…" />
          ) : jobs.isError ? (
            <ErrorMessage error={jobs.error} />
          ) : (
            <Empty>No documents uploaded for this patient yet.</Empty>
          )}
        </>
      )}
    </Section>
  );
}
