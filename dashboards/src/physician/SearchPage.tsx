// Search for the physician: patients by name (FHIR `Patient?name=`) and records by text
// (`/api/search`); both consent-safe (the server lists only what the physician may see).
// A record opens the page of the patient it belongs to.

import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Field, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { useI18n } from '../i18n/I18nProvider';
import type { MessageKey } from '../i18n/core';
import { formatDate, patientName } from '../fhir/format';
import type { SearchHit } from '../api/types';
import { hitPath } from './records';

const TYPE_KEYS: Record<string, MessageKey> = {
  Patient: 'type.Patient',
  Observation: 'type.Observation',
  Condition: 'type.Condition',
  MedicationRequest: 'type.MedicationRequest',
  MedicationStatement: 'type.MedicationStatement',
  AllergyIntolerance: 'type.AllergyIntolerance',
  Immunization: 'type.Immunization',
  Encounter: 'type.Encounter',
  Procedure: 'type.Procedure',
  DiagnosticReport: 'type.DiagnosticReport',
  DocumentReference: 'type.DocumentReference',
};

/** The label of a resource type in the active language (the type name when there is none). */
export function typeLabel(resourceType: string, t: (key: MessageKey) => string): string {
  const key = TYPE_KEYS[resourceType];
  return key ? t(key) : resourceType;
}

/** Hits grouped by type, groups in order of their best hit. */
export function groupHits(hits: SearchHit[]): { type: string; hits: SearchHit[] }[] {
  const groups = new Map<string, SearchHit[]>();
  for (const hit of hits) groups.set(hit.resourceType, [...(groups.get(hit.resourceType) ?? []), hit]);
  return [...groups].map(([type, list]) => ({ type, hits: list }));
}

export function SearchPage() {
  const client = useClient();
  const navigate = useNavigate();
  const { t, locale } = useI18n();
  const [params, setParams] = useSearchParams();
  const q = params.get('q')?.trim() ?? '';
  const [text, setText] = useState(q);
  const patients = useQuery({
    queryKey: ['fhir', 'Patient', 'search', 'text', q],
    enabled: q.length > 0,
    queryFn: async () => (await client.searchAll<fhir4.Patient>('Patient', { name: q, _count: 20 }, 1)).resources,
  });
  const records = useQuery({ queryKey: ['search', q], enabled: q.length > 0, queryFn: () => client.search(q, 50) });
  const open = useMutation({
    mutationFn: async (hit: SearchHit) => {
      const path = await hitPath(client, hit);
      if (!path) throw new Error(t('search.noPatient'));
      navigate(path);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setParams(text.trim() ? { q: text.trim() } : {});
  };
  return (
    <>
      <PageTitle>{t('search.title')}</PageTitle>
      <Section title={t('search.find')} id="search-form">
        <form className="inline-form" role="search" onSubmit={submit}>
          <Field label={t('search.text')} id="search-text" hint={t('search.hint')}>
            <input id="search-text" type="search" value={text} onChange={(e) => setText(e.target.value)} aria-describedby="search-text-hint" />
          </Field>
          <button type="submit" className="primary">
            {t('search.button')}
          </button>
        </form>
      </Section>
      {q ? (
        <>
          <Section title={t('search.patients')} id="search-patients">
            <QueryState query={patients} empty={t('search.noPatients')} loadingLabel={t('search.searching')}>
              {(list) => (
                <ul className="plain-list" data-testid="patient-results">
                  {list.map((p) => (
                    <li key={p.id}>
                      <Link to={`/patients/${encodeURIComponent(p.id ?? '')}`}>{patientName(p)}</Link>{' '}
                      {p.birthDate ? <span className="muted">{t('palette.born', { date: formatDate(p.birthDate, locale) })}</span> : null}
                    </li>
                  ))}
                </ul>
              )}
            </QueryState>
          </Section>
          <Section title={t('search.records')} id="search-records">
            <QueryState query={records} empty={t('search.noRecords')} loadingLabel={t('search.searching')}>
              {(hits) => (
                <>
                  <p className="muted" role="status">
                    {t('search.count', { count: hits.length })}
                  </p>
                  {groupHits(hits).map((group) => (
                    <div key={group.type} className="search-group">
                      <h3>{typeLabel(group.type, t)}</h3>
                      <ul className="plain-list" data-testid="record-results">
                        {group.hits.map((hit) => (
                          <li key={`${hit.resourceType}/${hit.id}`}>
                            <span>{hit.display || typeLabel(hit.resourceType, t)}</span>{' '}
                            <button type="button" className="link-button" onClick={() => open.mutate(hit)} disabled={open.isPending}>
                              {t('search.open')}
                              <span className="visually-hidden">: {hit.display || typeLabel(hit.resourceType, t)}</span>
                            </button>
                          </li>
                        ))}
                      </ul>
                    </div>
                  ))}
                </>
              )}
            </QueryState>
            <FormError error={open.error} />
          </Section>
        </>
      ) : null}
    </>
  );
}
