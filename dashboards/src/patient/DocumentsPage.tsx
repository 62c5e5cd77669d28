// The patient's documents: upload their own lab reports (`POST /api/documents` for their own
// Patient), follow each upload's status (told over the websocket; polled while it is queued or
// processing only when the socket is down), see the
// results that were filed from it, and check and file results that need a look first.

import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useLive, useSession } from '../ui/session';
import { FALLBACK_POLL_MS } from '../fhir/live';
import { Empty, ErrorMessage, Field, FormError, PageTitle, QueryState, Section, isNotFound } from '../ui/components';
import { JobStatusBadge, filedObservations, jobStatusHelp, reviewRows } from '../ui/jobs';
import { useI18n } from '../i18n/I18nProvider';
import { codeText, flagLabel, formatDate, formatDateTime, observationDate, observationFlag, observationValue } from '../fhir/format';
import { jobActive, type DocumentJob } from '../api/types';

const ACCEPT = '.pdf,.txt,.png,.jpg,.jpeg,.tif,.tiff,application/pdf,text/plain,image/*';

export function DocumentsPage() {
  const { client, user } = useSession();
  const { t } = useI18n();
  const queryClient = useQueryClient();
  const patientId = user?.patient_id ?? '';
  const [file, setFile] = useState<File | null>(null);
  const [uploaded, setUploaded] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const active = useRef(new Set<string>());
  const live = useLive();
  const jobs = useQuery({
    queryKey: ['documents', 'jobs'],
    queryFn: async () => {
      const list = (await client.documentJobs()).filter((job) => job.patient === `Patient/${patientId}`);
      // A job that just settled may have filed results: the record pages read them again.
      if (list.some((job) => active.current.has(job.id) && !jobActive(job.status))) {
        void queryClient.invalidateQueries({ queryKey: ['fhir'] });
      }
      active.current = new Set(list.filter((job) => jobActive(job.status)).map((job) => job.id));
      return list;
    },
    // Live updates say when a job changes; polled only while the socket is down.
    refetchInterval: (query) => (!live && query.state.data?.some((job) => jobActive(job.status)) ? FALLBACK_POLL_MS : false),
    staleTime: 0,
  });
  const upload = useMutation({
    mutationFn: (chosen: File) => client.uploadDocument(`Patient/${patientId}`, chosen),
    onSuccess: (submitted) => {
      setUploaded(submitted.job_id);
      setFile(null);
      if (inputRef.current) inputRef.current.value = '';
      return queryClient.invalidateQueries({ queryKey: ['documents', 'jobs'] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (file) upload.mutate(file);
  };
  const unavailable = jobs.isError && isNotFound(jobs.error);
  return (
    <>
      <PageTitle>{t('documents.title')}</PageTitle>
      <Section title={t('documents.upload')} id="upload">
        {unavailable ? (
          <Empty>{t('documents.unavailable')}</Empty>
        ) : (
          <form className="inline-form" onSubmit={submit}>
            <Field label={t('documents.file')} id="document-file" hint={t('documents.file.hint')}>
              <input
                ref={inputRef}
                id="document-file"
                type="file"
                accept={ACCEPT}
                aria-describedby="document-file-hint"
                onChange={(e) => {
                  setFile(e.target.files?.[0] ?? null);
                  upload.reset();
                }}
              />
            </Field>
            <button type="submit" className="primary" disabled={!file || upload.isPending}>
              {upload.isPending ? t('documents.uploading') : t('documents.upload.button')}
            </button>
          </form>
        )}
        <FormError error={upload.error} />
        {uploaded && upload.isSuccess && jobs.data?.some((job) => job.id === uploaded && jobActive(job.status)) ? (
          <p className="form-success" role="status">
            {t('documents.uploaded')}
          </p>
        ) : null}
      </Section>
      <Section title={t('documents.yours')} id="uploads">
        {unavailable ? null : (
          <QueryState query={jobs} empty={t('documents.none')} loadingLabel={t('documents.loading')}>
            {(list) => (
              <ul className="plain-list jobs" aria-label={t('documents.yours')}>
                {list.map((job) => (
                  <JobCard key={job.id} job={job} />
                ))}
              </ul>
            )}
          </QueryState>
        )}
      </Section>
    </>
  );
}

function JobCard({ job }: { job: DocumentJob }) {
  const { client } = useSession();
  const { t, locale } = useI18n();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['documents', 'jobs'] });
  const accept = useMutation({ mutationFn: () => client.acceptDocumentJob(job.id), onSuccess: refresh });
  const cancel = useMutation({ mutationFn: () => client.cancelDocumentJob(job.id), onSuccess: refresh });
  const filed = filedObservations(job);
  const headingId = `job-${job.id}`;
  return (
    <li className="job-card" data-testid="document-job" data-status={job.status} aria-labelledby={headingId}>
      <h3 id={headingId}>
        <JobStatusBadge status={job.status} /> {job.file_name ?? t('documents.untitled')}
      </h3>
      <p className="muted">
        {t('documents.uploadedAt', { when: formatDateTime(job.created, locale) })}
        {job.size != null ? ` · ${t('documents.size', { kb: Math.max(1, Math.round(job.size / 1024)) })}` : ''}
      </p>
      <p aria-live="polite">{jobStatusHelp(job.status, t)}</p>
      {job.status === 'failed' && job.error ? <p className="form-error">{job.error}</p> : null}
      {job.status === 'completed' ? (
        filed.length ? (
          <FiledResults ids={filed} />
        ) : (
          <p>{t('documents.noResults')}</p>
        )
      ) : null}
      {job.status === 'needs_review' ? (
        <>
          <ReviewTable job={job} />
          <div className="actions">
            <button type="button" className="primary" onClick={() => accept.mutate()} disabled={accept.isPending}>
              {t('documents.accept')}
            </button>
            <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
              {t('documents.discard')}
            </button>
          </div>
          <FormError error={accept.error ?? cancel.error} />
        </>
      ) : null}
      {job.status === 'pending' ? (
        <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
          {t('documents.cancel')}
        </button>
      ) : null}
      {job.counts && job.status !== 'needs_review' && job.counts.unmapped > 0 ? (
        <p className="muted">{t('documents.unmapped', { count: job.counts.unmapped })}</p>
      ) : null}
    </li>
  );
}

/** The Observations a job filed, as the record shows them. */
function FiledResults({ ids }: { ids: string[] }) {
  const { client } = useSession();
  const { t, locale } = useI18n();
  const results = useQuery({
    queryKey: ['fhir', 'Observation', 'ids', ids],
    queryFn: async () => (await client.searchAll<fhir4.Observation>('Observation', { _id: ids.join(','), _count: 100 })).resources,
  });
  return (
    <QueryState query={results} loadingLabel={t('documents.loadingResults')} empty={t('documents.noResults')}>
      {(list) => (
        <div className="table-wrap">
          <table data-testid="filed-results">
            <caption>{t('documents.filed', { count: list.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('labs.test')}</th>
                <th scope="col">{t('labs.value')}</th>
                <th scope="col">{t('labs.flag')}</th>
                <th scope="col">{t('labs.date')}</th>
              </tr>
            </thead>
            <tbody>
              {list.map((o) => {
                const flag = observationFlag(o);
                return (
                  <tr key={o.id}>
                    <th scope="row">{codeText(o.code)}</th>
                    <td className="num">{observationValue(o, locale)}</td>
                    <td>{flag && flag !== 'normal' ? flagLabel(flag) : '—'}</td>
                    <td>{formatDate(observationDate(o), locale)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </QueryState>
  );
}

function ReviewTable({ job }: { job: DocumentJob }) {
  const { t } = useI18n();
  const rows = reviewRows(job);
  if (!rows.length) return <ErrorMessage error={t('documents.reviewMissing')} />;
  return (
    <div className="table-wrap">
      <table data-testid="review-results">
        <caption>{t('documents.review', { count: rows.length })}</caption>
        <thead>
          <tr>
            <th scope="col">{t('labs.test')}</th>
            <th scope="col">{t('labs.value')}</th>
            <th scope="col">{t('documents.why')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.index}>
              <th scope="row">{row.name || '—'}</th>
              <td className="num">{[row.value, row.unit].filter(Boolean).join(' ') || '—'}</td>
              <td>{row.reason || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
