// Break-glass review: every emergency access of the last days, one row per clinician and
// patient (when it started, how long, what was opened), each with a link to its records.

import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Field, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import type { AuditRecord } from '../api/types';
import { recordPatients } from './AuditTable';
import { roleName } from './UsersPage';
import { translate as t } from '../i18n/core';

/** One clinician's break-glass accesses to one patient. */
export interface BreakGlassCase {
  actor: string | null;
  role: string | null;
  patient: string;
  first: string;
  last: string;
  requests: number;
  /** Resource types opened, sorted. */
  types: string[];
  /** Whether a request was refused or failed. */
  failures: number;
}

/** The cases of `records` (newest first in, most recent case first out). */
export function breakGlassCases(records: AuditRecord[]): BreakGlassCase[] {
  const cases = new Map<string, BreakGlassCase>();
  for (const record of records) {
    const patients = recordPatients(record);
    for (const patient of patients.length ? patients : ['(unknown)']) {
      const key = `${record.actor ?? ''}\u0000${patient}`;
      const found = cases.get(key) ?? {
        actor: record.actor,
        role: record.role,
        patient,
        first: record.at,
        last: record.at,
        requests: 0,
        types: [],
        failures: 0,
      };
      found.requests += 1;
      if (record.at < found.first) found.first = record.at;
      if (record.at > found.last) found.last = record.at;
      const types = record.resource_types?.length ? record.resource_types : record.resource_type ? [record.resource_type] : [];
      found.types = [...new Set([...found.types, ...types])].sort();
      if (record.outcome >= 400) found.failures += 1;
      cases.set(key, found);
    }
  }
  return [...cases.values()].sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0));
}

const DAYS = [1, 7, 30, 90];

export function BreakGlassPage() {
  const client = useClient();
  const [days, setDays] = useState(30);
  const since = new Date(Date.now() - days * 86_400_000);
  since.setSeconds(0, 0);
  const records = useQuery({
    queryKey: ['admin', 'audit', 'break-glass', days],
    queryFn: () => client.audit({ break_glass: true, since: since.toISOString(), limit: 500 }),
  });
  return (
    <>
      <PageTitle>{t('adm.glass.title')}</PageTitle>
      <Section title={t('adm.glass.cases')} id="break-glass-cases">
        <p>{t('adm.glass.intro')}</p>
        <Field label={t('adm.glass.period')} id="break-glass-days">
          <select id="break-glass-days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {DAYS.map((d) => (
              <option key={d} value={d}>
                {d === 1 ? t('adm.glass.last24') : t('adm.glass.lastDays', { n: d })}
              </option>
            ))}
          </select>
        </Field>
        <QueryState query={records} isEmpty={(page) => page.records.length === 0} empty={t('adm.glass.none')}>
          {(page) => {
            const cases = breakGlassCases(page.records);
            return (
              <div className="table-wrap">
                <table>
                  <caption className="visually-hidden">{t('adm.glass.caption')}</caption>
                  <thead>
                    <tr>
                      <th scope="col">{t('adm.glass.clinician')}</th>
                      <th scope="col">{t('adm.glass.patient')}</th>
                      <th scope="col">{t('adm.glass.from')}</th>
                      <th scope="col">{t('adm.glass.last')}</th>
                      <th scope="col">{t('adm.glass.requests')}</th>
                      <th scope="col">{t('adm.glass.opened')}</th>
                      <th scope="col">{t('adm.audit.records')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {cases.map((c) => (
                      <tr key={`${c.actor}-${c.patient}`} className="row-alert">
                        <td>
                          {c.actor ? <Link to={`/admin/users/${encodeURIComponent(c.actor)}`}>{c.actor}</Link> : t('adm.anonymous')}
                          {c.role ? <span className="muted"> ({roleName(c.role)})</span> : null}
                        </td>
                        <td>
                          <code>{c.patient}</code>
                        </td>
                        <td className="num">{formatDateTime(c.first)}</td>
                        <td className="num">{formatDateTime(c.last)}</td>
                        <td className="num">
                          {c.requests}
                          {c.failures ? <span className="muted"> {t('adm.glass.refused', { n: c.failures })}</span> : null}
                        </td>
                        <td>{c.types.join(', ') || '—'}</td>
                        <td>
                          <Link
                            to={`/admin/audit?${new URLSearchParams({ ...(c.actor ? { actor: c.actor } : {}), ...(c.patient !== '(unknown)' ? { patient: c.patient } : {}), break_glass: 'true' })}`}
                          >
                            {t('adm.glass.audit')}
                          </Link>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            );
          }}
        </QueryState>
      </Section>
    </>
  );
}
