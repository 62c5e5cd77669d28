// The patients a physician may see (consent-restricted by the server), searchable by name.

import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Field, PageTitle, QueryState, Section } from '../ui/components';
import { ageInYears, formatDate, patientName, statusLabel, userLocale } from '../fhir/format';
import { translate as t } from '../i18n/core';

export function PatientsPage() {
  const client = useClient();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const name = params.get('name') ?? '';
  const [text, setText] = useState(name);
  const [lookup, setLookup] = useState('');
  const locale = userLocale();
  const patients = useQuery({
    queryKey: ['fhir', 'Patient', 'search', name],
    queryFn: async () => (await client.searchAll<fhir4.Patient>('Patient', { name: name || undefined, _count: 50 }, 2)).resources,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setParams(text.trim() ? { name: text.trim() } : {});
  };
  return (
    <>
      <PageTitle>{t('nav.patients')}</PageTitle>
      <Section title={t('search.title')}>
        <form className="inline-form" role="search" onSubmit={submit}>
          <Field label={t('summary.name')} id="patient-search">
            <input id="patient-search" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder={t('patients.placeholder')} />
          </Field>
          <button type="submit" className="primary">
            {t('search.button')}
          </button>
        </form>
        <p className="muted">{t('patients.only')}</p>
      </Section>
      <Section title={name ? t('patients.results', { name }) : t('patients.yours')}>
        <QueryState query={patients} empty={name ? t('patients.noMatch') : t('patients.none')} loadingLabel={t('search.searching')}>
          {(list) => (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">{t('nav.patients')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('summary.name')}</th>
                    <th scope="col">{t('summary.born')}</th>
                    <th scope="col">{t('patients.age')}</th>
                    <th scope="col">{t('detail.gender')}</th>
                    <th scope="col">{t('summary.patientId')}</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((p) => (
                    <tr key={p.id}>
                      <td>
                        <Link to={`/patients/${p.id}`}>{patientName(p)}</Link>
                      </td>
                      <td>{formatDate(p.birthDate, locale)}</td>
                      <td className="num">{ageInYears(p.birthDate) ?? '—'}</td>
                      <td>{statusLabel(p.gender) || '—'}</td>
                      <td>
                        <code>{p.id}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </QueryState>
      </Section>
      <Section title={t('patients.byId')}>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (lookup.trim()) navigate(`/patients/${encodeURIComponent(lookup.trim())}`);
          }}
        >
          <Field label={t('summary.patientId')} id="patient-id" hint={t('patients.byId.hint')}>
            <input id="patient-id" value={lookup} onChange={(e) => setLookup(e.target.value)} aria-describedby="patient-id-hint" />
          </Field>
          <button type="submit">{t('patients.open')}</button>
        </form>
      </Section>
    </>
  );
}
