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
      <PageTitle>Audit log</PageTitle>
      <ChainStatus />
      <Section title="Records" id="audit-records">
        <form className="inline-form filters" role="search" aria-label="Filter the audit log" onSubmit={submit} noValidate>
          <Field label="Actor (account id)" id="audit-actor">
            <input id="audit-actor" value={form.actor} onChange={(e) => set({ actor: e.target.value })} />
          </Field>
          <Field label="Patient id" id="audit-patient">
            <input id="audit-patient" value={form.patient} onChange={(e) => set({ patient: e.target.value })} />
          </Field>
          <Field label="Action" id="audit-action">
            <input id="audit-action" list="audit-actions" value={form.action} onChange={(e) => set({ action: e.target.value })} />
            <datalist id="audit-actions">
              {AUDIT_ACTIONS.map((action) => (
                <option key={action} value={action} />
              ))}
            </datalist>
          </Field>
          <Field label="Resource type" id="audit-type">
            <input id="audit-type" value={form.resourceType} onChange={(e) => set({ resourceType: e.target.value })} />
          </Field>
          <Field label="From (date)" id="audit-from">
            <input id="audit-from" type="date" value={form.from} onChange={(e) => set({ from: e.target.value })} />
          </Field>
          <Field label="To (date, included)" id="audit-to">
            <input id="audit-to" type="date" value={form.to} onChange={(e) => set({ to: e.target.value })} />
          </Field>
          <label className="check">
            <input type="checkbox" checked={form.breakGlass} onChange={(e) => set({ breakGlass: e.target.checked })} /> Break-glass only
          </label>
          <div className="actions">
            <button type="submit" className="primary">
              Apply filters
            </button>
            <button type="button" onClick={clear}>
              Clear
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
        <QueryState query={records} isEmpty={(data) => data.pages.every((page) => page.records.length === 0)} empty="No record matches these filters.">
          {(data) => {
            const all = data.pages.flatMap((page) => page.records);
            return (
              <>
                <p className="muted" role="status" data-testid="audit-count">
                  {all.length} record{all.length === 1 ? '' : 's'} shown{records.hasNextPage ? ' (more are older)' : ''}
                </p>
                <AuditTable
                  records={all}
                  caption="Audit records, newest first"
                  highlight={(record) => record.action === 'break-glass' || applied.breakGlass}
                />
                {records.hasNextPage ? (
                  <button type="button" onClick={() => void records.fetchNextPage()} disabled={records.isFetchingNextPage}>
                    {records.isFetchingNextPage ? 'Loading…' : 'Show older records'}
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
