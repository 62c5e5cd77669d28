// The researcher's page: ask for a de-identified export (types, period, k, purpose) and see
// one's exports (newest first, expired ones gone) with their state.

import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Field, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { formatDateTime } from '../fhir/format';
import { ProgressBar } from '../ui/ProgressBar';
import type { ResearchExport } from '../api/types';
import { DEFAULT_EXPORT_FORM, EXPORT_TYPES, K_MAX, K_MIN, PURPOSE_MAX, PURPOSE_MIN, exportProblems, exportRequest, type ExportForm } from './exportForm';
import { exportRunning, statusBadge } from './ExportPage';
import { translate as t } from '../i18n/core';

function ExportFormSection() {
  const client = useClient();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [form, setForm] = useState<ExportForm>(DEFAULT_EXPORT_FORM);
  const [tried, setTried] = useState(false);
  const problems = exportProblems(form);
  const shown = tried ? problems : {};
  const create = useMutation({
    mutationFn: () => client.createResearchExport(exportRequest(form)),
    onSuccess: (accepted) => {
      void queryClient.invalidateQueries({ queryKey: ['research', 'exports'] });
      navigate(`/research/exports/${encodeURIComponent(accepted.id)}`);
    },
  });
  const set = (patch: Partial<ExportForm>) => setForm({ ...form, ...patch });
  const toggle = (type: string, on: boolean) => set({ types: on ? [...form.types, type] : form.types.filter((t) => t !== type) });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    if (Object.keys(problems).length === 0) create.mutate();
  };
  const describedBy = (field: keyof typeof shown, hint?: string) => [hint, shown[field] ? `${field}-error` : undefined].filter(Boolean).join(' ') || undefined;
  const fieldError = (field: keyof typeof shown) =>
    shown[field] ? (
      <p className="form-error" id={`${field}-error`}>
        {shown[field]}
      </p>
    ) : null;
  return (
    <Section title={t('res.new')} id="new-export">
      <p>{t('res.intro')}</p>
      <form onSubmit={submit} noValidate aria-label={t('res.form')}>
        <fieldset aria-describedby={describedBy('types')}>
          <legend>{t('res.types')}</legend>
          <div className="actions">
            <button type="button" className="link-button" onClick={() => set({ types: [...EXPORT_TYPES] })}>
              {t('res.all')}
            </button>
            <button type="button" className="link-button" onClick={() => set({ types: [] })}>
              {t('res.none')}
            </button>
          </div>
          <div className="check-grid">
            {EXPORT_TYPES.map((type) => (
              <label key={type} className="check">
                <input type="checkbox" checked={form.types.includes(type)} onChange={(e) => toggle(type, e.target.checked)} /> {type}
              </label>
            ))}
          </div>
          {fieldError('types')}
        </fieldset>
        <fieldset>
          <legend>{t('res.period')}</legend>
          <div className="inline-form">
            <Field label={t('res.from')} id="export-since">
              <input id="export-since" type="date" value={form.since} onChange={(e) => set({ since: e.target.value })} aria-invalid={Boolean(shown.since)} aria-describedby={describedBy('since')} />
            </Field>
            <Field label={t('res.to')} id="export-until">
              <input id="export-until" type="date" value={form.until} onChange={(e) => set({ until: e.target.value })} aria-invalid={Boolean(shown.until)} aria-describedby={describedBy('until')} />
            </Field>
          </div>
          {fieldError('since')}
          {fieldError('until')}
        </fieldset>
        <Field label={t('res.k')} id="export-k" hint={t('res.k.hint', { min: K_MIN, max: K_MAX })}>
          <input
            id="export-k"
            type="number"
            inputMode="numeric"
            min={K_MIN}
            max={K_MAX}
            value={form.k}
            onChange={(e) => set({ k: e.target.value })}
            aria-invalid={Boolean(shown.k)}
            aria-describedby={describedBy('k', 'export-k-hint')}
          />
        </Field>
        {fieldError('k')}
        <Field label={t('res.purpose')} id="export-purpose" hint={t('res.purpose.hint', { min: PURPOSE_MIN, max: PURPOSE_MAX })}>
          <textarea
            id="export-purpose"
            rows={3}
            maxLength={PURPOSE_MAX + 200}
            value={form.purpose}
            onChange={(e) => set({ purpose: e.target.value })}
            aria-invalid={Boolean(shown.purpose)}
            aria-describedby={describedBy('purpose', 'export-purpose-hint')}
          />
        </Field>
        <p className="hint purpose-count" aria-live="polite">
          {t('res.purpose.count', { n: form.purpose.trim().length, max: PURPOSE_MAX })}
        </p>
        {fieldError('purpose')}
        <label className="check">
          <input type="checkbox" checked={form.keepZip3} onChange={(e) => set({ keepZip3: e.target.checked })} /> {t('res.zip3')}
        </label>
        {tried && Object.keys(problems).length ? (
          <p className="form-error" role="alert">
            {t('res.correct', { count: Object.keys(problems).length })}
          </p>
        ) : null}
        <FormError error={create.error} />
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? t('res.starting') : t('res.start')}
        </button>
      </form>
    </Section>
  );
}

function ExportList() {
  const client = useClient();
  const exports = useQuery({
    queryKey: ['research', 'exports'],
    queryFn: () => client.researchExports(),
    refetchInterval: (query) => (query.state.data?.some(exportRunning) ? 2000 : false),
  });
  return (
    <Section title={t('res.yours')} id="exports">
      <QueryState query={exports} empty={t('res.noExport')}>
        {(list: ResearchExport[]) => (
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">{t('res.caption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('res.started')}</th>
                  <th scope="col">{t('res.typesCol')}</th>
                  <th scope="col">k</th>
                  <th scope="col">{t('adm.col.state')}</th>
                  <th scope="col">{t('res.until')}</th>
                </tr>
              </thead>
              <tbody>
                {list.map((item) => (
                  <tr key={item.id}>
                    <th scope="row">
                      <Link to={`/research/exports/${encodeURIComponent(item.id)}`}>{formatDateTime(item.created_at)}</Link>
                    </th>
                    <td>{item.types.join(', ')}</td>
                    <td className="num">{item.k ?? '—'}</td>
                    <td>
                      {statusBadge(item.status)}
                      {exportRunning(item) ? <ProgressBar label={t('res.exportOf', { when: formatDateTime(item.created_at) })} progress={item.progress} waiting={item.status === 'pending'} /> : null}
                    </td>
                    <td className="num">{item.expires_at ? formatDateTime(item.expires_at) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
    </Section>
  );
}

export function ResearchPage() {
  return (
    <>
      <PageTitle>{t('res.title')}</PageTitle>
      <ExportFormSection />
      <ExportList />
    </>
  );
}
