// The patients a physician may see (consent-restricted by the server), searchable by name.

import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Field, PageTitle, QueryState, Section } from '../ui/components';
import { ageInYears, formatDate, patientName, statusLabel, userLocale } from '../fhir/format';

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
      <PageTitle>Patients</PageTitle>
      <Section title="Search">
        <form className="inline-form" role="search" onSubmit={submit}>
          <Field label="Name" id="patient-search">
            <input id="patient-search" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="Family or given name" />
          </Field>
          <button type="submit" className="primary">
            Search
          </button>
        </form>
        <p className="muted">Only patients who shared their records with you (or whom you accessed in an emergency) are listed.</p>
      </Section>
      <Section title={name ? `Results for “${name}”` : 'Your patients'}>
        <QueryState query={patients} empty={name ? 'No patient matches this name.' : 'No patients yet.'} loadingLabel="Searching…">
          {(list) => (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Patients</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Born</th>
                    <th scope="col">Age</th>
                    <th scope="col">Gender</th>
                    <th scope="col">Patient ID</th>
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
      <Section title="Open a patient by ID">
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (lookup.trim()) navigate(`/patients/${encodeURIComponent(lookup.trim())}`);
          }}
        >
          <Field label="Patient ID" id="patient-id" hint="For a patient who has not shared records with you: request access or, in an emergency, break the glass.">
            <input id="patient-id" value={lookup} onChange={(e) => setLookup(e.target.value)} aria-describedby="patient-id-hint" />
          </Field>
          <button type="submit">Open</button>
        </form>
      </Section>
    </>
  );
}
