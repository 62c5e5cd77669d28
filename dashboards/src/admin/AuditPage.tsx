// The audit log: filters (who, which patient, what, when, break-glass only) kept in the URL,
// pages of records newest first, and the hash chain's status.

import { useState, type FormEvent } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import { useSearchParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Field, PageTitle, QueryState, Section } from '../ui/components';
import { AuditTable } from './AuditTable';
import { ChainStatus } from './ChainStatus';
import { AUDIT_ACTIONS, NO_AUDIT_FILTERS, auditFilterProblems, auditFiltersFromSearch, auditFiltersToSearch, auditQuery, type AuditFilters } from './filters';

import { translate as t } from '../i18n/core';

const LIMIT = 50;

export function AuditPage() {
  const client = useClient();
  const [search, setSearch] = useSearchParams();
  const applied = auditFiltersFromSearch(search);
  const [form, setForm] = useState<AuditFilters>(applied);
  const [problems, setProblems] = useState<string[]>([]);
  const records = useInfiniteQuery({
    queryKey: ['admin', 'audit', 'records', applied],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => client.audit(auditQuery(applied, { before: pageParam, limit: LIMIT })),
    getNextPageParam: (last) => (last.records.length >= LIMIT ? last.records[last.records.length - 1].seq : undefined),
    staleTime: 0,
  });
  const set = (patch: Partial<AuditFilters>) => setForm({ ...form, ...patch });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = auditFilterProblems(form);
    setProblems(found);
    if (found.length === 0) setSearch(auditFiltersToSearch(form));
  };
  const clear = () => {
    setForm(NO_AUDIT_FILTERS);
    setProblems([]);
    setSearch(new URLSearchParams());
  };
  return (
    <>
      <PageTitle>{t('adm.audit.title')}</PageTitle>
      <ChainStatus />
      <Section title={t('adm.audit.records')} id="audit-records">
        <form className="inline-form filters" role="search" aria-label={t('adm.audit.filter')} onSubmit={submit} noValidate>
          <Field label={t('adm.audit.actor')} id="audit-actor">
            <input id="audit-actor" value={form.actor} onChange={(e) => set({ actor: e.target.value })} />
          </Field>
          <Field label={t('adm.audit.patient')} id="audit-patient">
            <input id="audit-patient" value={form.patient} onChange={(e) => set({ patient: e.target.value })} />
          </Field>
          <Field label={t('adm.col.action')} id="audit-action">
            <input id="audit-action" list="audit-actions" value={form.action} onChange={(e) => set({ action: e.target.value })} />
            <datalist id="audit-actions">
              {AUDIT_ACTIONS.map((action) => (
                <option key={action} value={action} />
              ))}
            </datalist>
          </Field>
          <Field label={t('adm.audit.type')} id="audit-type">
            <input id="audit-type" value={form.resourceType} onChange={(e) => set({ resourceType: e.target.value })} />
          </Field>
          <Field label={t('adm.audit.from')} id="audit-from">
            <input id="audit-from" type="date" value={form.from} onChange={(e) => set({ from: e.target.value })} />
          </Field>
          <Field label={t('adm.audit.to')} id="audit-to">
            <input id="audit-to" type="date" value={form.to} onChange={(e) => set({ to: e.target.value })} />
          </Field>
          <label className="check">
            <input type="checkbox" checked={form.breakGlass} onChange={(e) => set({ breakGlass: e.target.checked })} /> {t('adm.audit.glassOnly')}
          </label>
          <div className="actions">
            <button type="submit" className="primary">
              {t('adm.audit.apply')}
            </button>
            <button type="button" onClick={clear}>
              {t('adm.clear')}
            </button>
          </div>
        </form>
        {problems.length ? (
          <ul className="form-error" role="alert">
            {problems.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        ) : null}
        <QueryState query={records} isEmpty={(data) => data.pages.every((page) => page.records.length === 0)} empty={t('adm.audit.none')}>
          {(data) => {
            const all = data.pages.flatMap((page) => page.records);
            return (
              <>
                <p className="muted" role="status" data-testid="audit-count">
                  {t('adm.audit.count', { count: all.length })}
                  {records.hasNextPage ? t('adm.audit.older') : ''}
                </p>
                <AuditTable
                  records={all}
                  caption={t('adm.audit.caption')}
                  highlight={(record) => record.action === 'break-glass' || applied.breakGlass}
                />
                {records.hasNextPage ? (
                  <button type="button" onClick={() => void records.fetchNextPage()} disabled={records.isFetchingNextPage}>
                    {records.isFetchingNextPage ? t('common.loading') : t('adm.audit.more')}
                  </button>
                ) : null}
              </>
            );
          }}
        </QueryState>
      </Section>
    </>
  );
}
