// One research export: its request, its progress while it runs, then its files and its
// manifest to download (with the session's token: the files are not public), what
// k-anonymity did, and cancel or delete.

import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, FormError, PageTitle, QueryState, Section, isNotFound } from '../ui/components';
import { ProgressBar } from '../ui/ProgressBar';
import { formatDate, formatDateTime } from '../fhir/format';
import type { ResearchExport } from '../api/types';
import { fileName, localPath } from './exportForm';

export function exportRunning(item: Pick<ResearchExport, 'status'>): boolean {
  return item.status === 'pending' || item.status === 'processing';
}

export function statusBadge(status: ResearchExport['status']) {
  const tone = status === 'completed' ? 'good' : status === 'failed' ? 'bad' : 'info';
  return <Badge tone={tone}>{status}</Badge>;
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
    onSuccess: (name) => setSaved(`${name} downloaded.`),
  });
  return (
    <Section title="Files" id="files">
      {item.output.length === 0 ? (
        <p className="state state-empty">No resource of the chosen types and period passed de-identification.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Files of the export</caption>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Resources</th>
                <th scope="col">Download</th>
              </tr>
            </thead>
            <tbody>
              {item.output.map((file) => (
                <tr key={file.url}>
                  <th scope="row">{file.type}</th>
                  <td className="num">{file.count.toLocaleString('en-US')}</td>
                  <td>
                    <button type="button" onClick={() => download.mutate(file)} disabled={download.isPending} aria-label={`Download ${fileName(file)}`}>
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
            setSaved('The manifest was downloaded.');
          }}
        >
          Download the manifest
        </button>{' '}
        <span className="hint">The request, the files with their counts, and what de-identification removed or coarsened.</span>
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
    <Section title="De-identification" id="anonymity">
      {anonymity ? (
        <dl className="facts">
          <dt>k</dt>
          <dd>{anonymity.k}</dd>
          <dt>Quasi-identifiers</dt>
          <dd>{anonymity.quasi_identifiers.join(', ') || '—'}</dd>
          <dt>Generalisation</dt>
          <dd>{anonymity.generalisation.join('; ') || 'none needed'}</dd>
          <dt>Suppressed</dt>
          <dd>{suppressed.length ? suppressed.map(([type, n]) => `${type}: ${n}`).join(', ') : 'nothing'}</dd>
        </dl>
      ) : (
        <p className="muted">Safe Harbor de-identification only.</p>
      )}
      {item.skipped.length ? (
        <>
          <h3>Refused by the de-identifier</h3>
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
        <PageTitle>Export not found</PageTitle>
        <p className="card">
          This export does not exist or has expired. <Link to="/research">Back to your exports</Link>.
        </p>
      </>
    );
  }
  return (
    <QueryState query={item} loadingLabel="Loading the export…">
      {(data) => (
        <>
          <PageTitle actions={<Link to="/research">All exports</Link>}>Export of {formatDateTime(data.created_at)}</PageTitle>
          <Section title="Request" id="request">
            <dl className="facts">
              <dt>State</dt>
              <dd data-testid="export-status">{statusBadge(data.status)}</dd>
              <dt>Types</dt>
              <dd>{data.types.join(', ')}</dd>
              <dt>Period</dt>
              <dd>
                {data.since || data.until ? `${data.since ? formatDate(data.since) : 'start'} – ${data.until ? formatDateTime(data.until) : 'now'}` : 'all time'}
              </dd>
              <dt>k</dt>
              <dd>{data.k ?? '—'}</dd>
              <dt>Purpose</dt>
              <dd className="purpose">{data.purpose}</dd>
              {data.as_of ? (
                <>
                  <dt>Data as of</dt>
                  <dd>{formatDateTime(data.as_of)}</dd>
                </>
              ) : null}
              <dt>Available until</dt>
              <dd>{data.expires_at ? formatDateTime(data.expires_at) : '—'}</dd>
            </dl>
            <ProgressBar
              label="Export progress"
              progress={data.progress}
              waiting={data.status === 'pending'}
              finished={data.status === 'completed'}
              failed={data.status === 'failed'}
            />
            {data.status === 'failed' ? (
              <p className="form-error" role="alert">
                The export failed{data.error ? `: ${data.error}` : '.'}
              </p>
            ) : null}
            <FormError error={remove.error} />
            <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
              {exportRunning(data) ? 'Cancel the export' : 'Delete the export and its files'}
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
