// One research export: its request, its progress while it runs, then its files and its
// manifest to download (with the session's token: the files are not public), what
// k-anonymity did, and cancel or delete.

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, FormError, PageTitle, QueryState, Section, isNotFound } from '../ui/components';
import { ProgressBar } from '../ui/ProgressBar';
import { formatDate, formatDateTime, formatNumber } from '../fhir/format';
import type { ResearchExport } from '../api/types';
import { fileName, localPath } from './exportForm';
import { translate as t } from '../i18n/core';

export function exportRunning(item: Pick<ResearchExport, 'status'>): boolean {
  return item.status === 'pending' || item.status === 'processing';
}

export function statusBadge(status: ResearchExport['status']) {
  const tone = status === 'completed' ? 'good' : status === 'failed' ? 'bad' : 'info';
  return <Badge tone={tone}>{t(`res.status.${status}`)}</Badge>;
}

/** Offers `blob` to the browser as a download named `name`. */
export function saveBlob(blob: Blob, name: string) {
  const href = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = href;
  link.download = name;
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 30_000);
}

/** The manifest of an export: what was asked, when, the files and what de-identification did. */
export function manifestOf(item: ResearchExport): Blob {
  return new Blob([JSON.stringify(item, null, 2)], { type: 'application/json' });
}

function Downloads({ item }: { item: ResearchExport }) {
  const client = useClient();
  const [saved, setSaved] = useState('');
  const download = useMutation({
    mutationFn: async (file: { type: string; url: string }) => {
      const blob = await client.download(localPath(file.url));
      saveBlob(blob, fileName(file));
      return fileName(file);
    },
    onSuccess: (name) => setSaved(t('res.downloaded', { name })),
  });
  return (
    <Section title={t('res.files')} id="files">
      {item.output.length === 0 ? (
        <p className="state state-empty">{t('res.noFiles')}</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">{t('res.filesCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('res.type')}</th>
                <th scope="col">{t('res.resources')}</th>
                <th scope="col">{t('res.download')}</th>
              </tr>
            </thead>
            <tbody>
              {item.output.map((file) => (
                <tr key={file.url}>
                  <th scope="row">{file.type}</th>
                  <td className="num">{formatNumber(file.count)}</td>
                  <td>
                    <button type="button" onClick={() => download.mutate(file)} disabled={download.isPending} aria-label={t('res.downloadOf', { name: fileName(file) })}>
                      {fileName(file)}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p>
        <button
          type="button"
          onClick={() => {
            saveBlob(manifestOf(item), `manifest-${item.id}.json`);
            setSaved(t('res.manifestSaved'));
          }}
        >
          {t('res.manifest')}
        </button>{' '}
        <span className="hint">{t('res.manifest.hint')}</span>
      </p>
      <FormError error={download.error} />
      {saved ? (
        <p className="form-success" role="status">
          {saved}
        </p>
      ) : null}
    </Section>
  );
}

function Anonymity({ item }: { item: ResearchExport }) {
  const anonymity = item.anonymity;
  const suppressed = anonymity ? Object.entries(anonymity.suppressed).filter(([, n]) => n > 0) : [];
  return (
    <Section title={t('res.deid')} id="anonymity">
      {anonymity ? (
        <dl className="facts">
          <dt>k</dt>
          <dd>{anonymity.k}</dd>
          <dt>{t('res.quasi')}</dt>
          <dd>{anonymity.quasi_identifiers.join(', ') || '—'}</dd>
          <dt>{t('res.generalisation')}</dt>
          <dd>{anonymity.generalisation.join('; ') || t('res.noneNeeded')}</dd>
          <dt>{t('res.suppressed')}</dt>
          <dd>{suppressed.length ? suppressed.map(([type, n]) => `${type}: ${n}`).join(', ') : t('res.nothing')}</dd>
        </dl>
      ) : (
        <p className="muted">{t('res.safeHarbor')}</p>
      )}
      {item.skipped.length ? (
        <>
          <h3>{t('res.refused')}</h3>
          <ul>
            {item.skipped.map((s) => (
              <li key={`${s.type}-${s.reason}`}>
                {s.type}: {s.count} ({s.reason})
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </Section>
  );
}

export function ExportPage() {
  const { id = '' } = useParams();
  const client = useClient();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const item = useQuery({
    queryKey: ['research', 'export', id],
    queryFn: () => client.researchExport(id),
    staleTime: 0,
    refetchInterval: (query) => (!query.state.data || exportRunning(query.state.data) ? 1000 : false),
  });
  const remove = useMutation({
    mutationFn: () => client.cancelResearchExport(id),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['research', 'exports'] });
      navigate('/research', { replace: true });
    },
  });
  if (item.isError && isNotFound(item.error)) {
    return (
      <>
        <PageTitle>{t('res.notFound')}</PageTitle>
        <p className="card">
          {t('res.gone')} <Link to="/research">{t('res.back')}</Link>
        </p>
      </>
    );
  }
  return (
    <QueryState query={item} loadingLabel={t('res.loading')}>
      {(data) => (
        <>
          <PageTitle actions={<Link to="/research">{t('res.allExports')}</Link>}>{t('res.exportOf', { when: formatDateTime(data.created_at) })}</PageTitle>
          <Section title={t('res.request')} id="request">
            <dl className="facts">
              <dt>{t('adm.col.state')}</dt>
              <dd data-testid="export-status">{statusBadge(data.status)}</dd>
              <dt>{t('res.typesCol')}</dt>
              <dd>{data.types.join(', ')}</dd>
              <dt>{t('res.periodDt')}</dt>
              <dd>
                {data.since || data.until
                  ? t('res.range', { from: data.since ? formatDate(data.since) : t('res.periodStart'), to: data.until ? formatDateTime(data.until) : t('res.periodNow') })
                  : t('res.allTime')}
              </dd>
              <dt>k</dt>
              <dd>{data.k ?? '—'}</dd>
              <dt>{t('res.purpose')}</dt>
              <dd className="purpose">{data.purpose}</dd>
              {data.as_of ? (
                <>
                  <dt>{t('res.asOf')}</dt>
                  <dd>{formatDateTime(data.as_of)}</dd>
                </>
              ) : null}
              <dt>{t('res.until')}</dt>
              <dd>{data.expires_at ? formatDateTime(data.expires_at) : '—'}</dd>
            </dl>
            <ProgressBar
              label={t('res.progress')}
              progress={data.progress}
              waiting={data.status === 'pending'}
              finished={data.status === 'completed'}
              failed={data.status === 'failed'}
            />
            {data.status === 'failed' ? (
              <p className="form-error" role="alert">
                {data.error ? t('res.failedWith', { error: data.error }) : t('res.failed')}
              </p>
            ) : null}
            <FormError error={remove.error} />
            <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
              {exportRunning(data) ? t('res.cancel') : t('res.delete')}
            </button>
          </Section>
          {data.status === 'completed' ? (
            <>
              <Downloads item={data} />
              <Anonymity item={data} />
            </>
          ) : null}
        </>
      )}
    </QueryState>
  );
}
