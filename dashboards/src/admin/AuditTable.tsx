// A table of audit records (the audit log, a user's recent activity, break-glass reviews).

import { Link } from 'react-router-dom';
import type { AuditRecord } from '../api/types';
import { formatDateTime } from '../fhir/format';
import { Badge } from '../ui/components';
import { translate as t } from '../i18n/core';
import { roleName } from './UsersPage';

/** The patient ids a record names. */
export function recordPatients(record: Pick<AuditRecord, 'patients'>): string[] {
  return Object.keys(record.patients ?? {});
}

/** What a record touched: the resource types (or the URL's type), or nothing. */
export function recordWhat(record: Pick<AuditRecord, 'resource_types' | 'resource_type'>): string {
  if (record.resource_types?.length) return record.resource_types.join(', ');
  return record.resource_type ?? '—';
}

function outcomeBadge(outcome: number) {
  return <Badge tone={outcome < 400 ? 'good' : outcome < 500 ? 'warn' : 'bad'}>{outcome}</Badge>;
}

export function AuditTable({
  records,
  caption,
  showActor = true,
  highlight,
}: {
  records: AuditRecord[];
  caption: string;
  showActor?: boolean;
  /** Rows to mark (break-glass accesses). */
  highlight?: (record: AuditRecord) => boolean;
}) {
  return (
    <div className="table-wrap">
      <table className="audit-table">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">{t('adm.col.when')}</th>
            {showActor ? <th scope="col">{t('adm.col.who')}</th> : null}
            <th scope="col">{t('adm.col.action')}</th>
            <th scope="col">{t('adm.col.what')}</th>
            <th scope="col">{t('adm.col.patients')}</th>
            <th scope="col">{t('adm.col.outcome')}</th>
          </tr>
        </thead>
        <tbody>
          {records.map((record) => (
            <tr key={record.seq} className={highlight?.(record) ? 'row-alert' : undefined}>
              <td className="num">{record.seq}</td>
              <td className="num">
                <time dateTime={record.at}>{formatDateTime(record.at)}</time>
              </td>
              {showActor ? (
                <td>
                  {record.actor ? <Link to={`/admin/users/${encodeURIComponent(record.actor)}`}>{record.actor}</Link> : <span className="muted">{t('adm.anonymous')}</span>}
                  {record.role ? <span className="muted"> ({roleName(record.role)})</span> : null}
                </td>
              ) : null}
              <td>{record.action}</td>
              <td>{recordWhat(record)}</td>
              <td>
                {recordPatients(record).length ? (
                  recordPatients(record).map((patient) => (
                    <Link key={patient} className="patient-link" to={`/admin/audit?patient=${encodeURIComponent(patient)}`}>
                      {patient}
                    </Link>
                  ))
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
              <td>{outcomeBadge(record.outcome)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
