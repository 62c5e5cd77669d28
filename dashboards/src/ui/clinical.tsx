// A patient's clinical data, shared by both portals: the queries and the tables, charts and
// timeline that show them (units, reference ranges, flags, dates in the user's locale).

import { useQuery, type UseQueryResult } from '@tanstack/react-query';
import { useClient } from './session';
import { Badge, QueryState, Section } from './components';
import { TrendChart } from './TrendChart';
import {
  codeText,
  flagLabel,
  formatDate,
  formatReferenceRange,
  isLaboratory,
  isVitalSign,
  observationDate,
  observationFlag,
  observationSeries,
  observationValue,
  statusLabel,
  userLocale,
} from '../fhir/format';
import { dosageText, medicationName, timeline } from '../fhir/timeline';

export type ClinicalType =
  | 'Observation'
  | 'Condition'
  | 'MedicationRequest'
  | 'AllergyIntolerance'
  | 'Immunization'
  | 'Encounter'
  | 'Procedure';

/** The resources of `type` in a patient's compartment (consent-restricted by the server). */
export function usePatientResources<T extends fhir4.Resource>(
  patientId: string | undefined,
  type: ClinicalType,
  enabled = true,
): UseQueryResult<T[]> {
  const client = useClient();
  return useQuery({
    queryKey: ['fhir', type, patientId],
    enabled: Boolean(patientId) && enabled,
    queryFn: async () => {
      const params: Record<string, string | number> = { patient: `Patient/${patientId}`, _count: 100 };
      if (type === 'Observation') params._sort = '-date';
      return (await client.searchAll<T>(type, params)).resources;
    },
  });
}

function FlagBadge({ observation }: { observation: fhir4.Observation }) {
  const flag = observationFlag(observation);
  if (!flag) return null;
  const tone = flag === 'normal' ? 'good' : flag === 'abnormal' ? 'warn' : 'bad';
  return <Badge tone={tone}>{flagLabel(flag)}</Badge>;
}

/** Trend charts (one per code) and the full results table. */
export function ObservationsView({ observations, kind }: { observations: fhir4.Observation[]; kind: 'vitals' | 'labs' }) {
  const locale = userLocale();
  const series = observationSeries(observations);
  const sorted = [...observations].sort(
    (a, b) => new Date(observationDate(b) ?? 0).getTime() - new Date(observationDate(a) ?? 0).getTime(),
  );
  return (
    <>
      {series.length ? (
        <ul className="chart-grid" aria-label={kind === 'vitals' ? 'Vital sign trends' : 'Lab result trends'}>
          {series.map((s) => (
            <li key={s.key} className="chart-card">
              <h3>{s.label}</h3>
              <p className="chart-latest">
                <span className="value">{observationValue(s.latest, locale)}</span>{' '}
                <FlagBadge observation={s.latest} />
                <br />
                <span className="muted">
                  {formatDate(observationDate(s.latest), locale)}
                  {formatReferenceRange(s.latest.referenceRange?.[0], locale)
                    ? ` · Reference ${formatReferenceRange(s.latest.referenceRange?.[0], locale)}`
                    : ''}
                </span>
              </p>
              <TrendChart series={s} locale={locale} />
            </li>
          ))}
        </ul>
      ) : null}
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">{kind === 'vitals' ? 'Vital signs' : 'Lab results'}</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">{kind === 'vitals' ? 'Measurement' : 'Test'}</th>
              <th scope="col">Value</th>
              <th scope="col">Reference range</th>
              <th scope="col">Flag</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((o) => (
              <tr key={o.id}>
                <td>{formatDate(observationDate(o), locale)}</td>
                <td>{codeText(o.code)}</td>
                <td className="num">{observationValue(o, locale)}</td>
                <td>{formatReferenceRange(o.referenceRange?.[0], locale)}</td>
                <td>
                  <FlagBadge observation={o} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function splitObservations(observations: fhir4.Observation[]) {
  const vitals = observations.filter(isVitalSign);
  // Results without a category (as some lab systems send them) count as lab results too;
  // other categories (social history, surveys) only show on the timeline.
  const labs = observations.filter(
    (o) => isLaboratory(o) || (!isVitalSign(o) && (o.referenceRange?.length || !o.category?.length)),
  );
  const other = observations.filter((o) => !vitals.includes(o) && !labs.includes(o));
  return { vitals, labs, other };
}

export function VitalsSection({ query }: { query: UseQueryResult<fhir4.Observation[]> }) {
  return (
    <Section title="Vital signs" id="vitals">
      <QueryState query={query} loadingLabel="Loading vital signs…">
        {(all) => {
          const { vitals } = splitObservations(all);
          return vitals.length ? <ObservationsView observations={vitals} kind="vitals" /> : <p className="state state-empty">No vital signs recorded.</p>;
        }}
      </QueryState>
    </Section>
  );
}

export function LabsSection({ query }: { query: UseQueryResult<fhir4.Observation[]> }) {
  return (
    <Section title="Lab results" id="labs">
      <QueryState query={query} loadingLabel="Loading lab results…">
        {(all) => {
          const { labs } = splitObservations(all);
          return labs.length ? <ObservationsView observations={labs} kind="labs" /> : <p className="state state-empty">No lab results yet.</p>;
        }}
      </QueryState>
    </Section>
  );
}

function SimpleTable({ caption, head, rows }: { caption: string; head: string[]; rows: { key: string; cells: React.ReactNode[] }[] }) {
  return (
    <div className="table-wrap">
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {head.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.key}>
              {row.cells.map((cell, i) => (
                <td key={i}>{cell}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ConditionsSection({ query }: { query: UseQueryResult<fhir4.Condition[]> }) {
  const locale = userLocale();
  return (
    <Section title="Conditions" id="conditions">
      <QueryState query={query} empty="No conditions recorded.">
        {(conditions) => (
          <SimpleTable
            caption="Conditions"
            head={['Condition', 'Status', 'Onset', 'Recorded']}
            rows={conditions.map((c) => ({
              key: c.id ?? codeText(c.code),
              cells: [
                codeText(c.code),
                statusLabel(c.clinicalStatus?.coding?.[0]?.code),
                formatDate(c.onsetDateTime ?? c.onsetPeriod?.start, locale),
                formatDate(c.recordedDate, locale),
              ],
            }))}
          />
        )}
      </QueryState>
    </Section>
  );
}

export function MedicationsSection({ query }: { query: UseQueryResult<fhir4.MedicationRequest[]> }) {
  const locale = userLocale();
  return (
    <Section title="Medications" id="medications">
      <QueryState query={query} empty="No medications recorded.">
        {(requests) => (
          <SimpleTable
            caption="Medications"
            head={['Medication', 'Dosage', 'Status', 'Prescribed']}
            rows={requests.map((m) => ({
              key: m.id ?? medicationName(m),
              cells: [medicationName(m), dosageText(m) || '—', statusLabel(m.status), formatDate(m.authoredOn, locale)],
            }))}
          />
        )}
      </QueryState>
    </Section>
  );
}

export function AllergiesSection({ query }: { query: UseQueryResult<fhir4.AllergyIntolerance[]> }) {
  const locale = userLocale();
  return (
    <Section title="Allergies" id="allergies">
      <QueryState query={query} empty="No known allergies recorded.">
        {(allergies) => (
          <SimpleTable
            caption="Allergies"
            head={['Substance', 'Reaction', 'Criticality', 'Status', 'Recorded']}
            rows={allergies.map((a) => ({
              key: a.id ?? codeText(a.code),
              cells: [
                codeText(a.code),
                a.reaction?.flatMap((r) => r.manifestation.map(codeText)).join(', ') || '—',
                a.criticality === 'high' ? <Badge tone="bad">High</Badge> : statusLabel(a.criticality) || '—',
                statusLabel(a.clinicalStatus?.coding?.[0]?.code),
                formatDate(a.recordedDate, locale),
              ],
            }))}
          />
        )}
      </QueryState>
    </Section>
  );
}

export function ImmunizationsSection({ query }: { query: UseQueryResult<fhir4.Immunization[]> }) {
  const locale = userLocale();
  return (
    <Section title="Immunizations" id="immunizations">
      <QueryState query={query} empty="No immunizations recorded.">
        {(immunizations) => (
          <SimpleTable
            caption="Immunizations"
            head={['Vaccine', 'Date', 'Status']}
            rows={[...immunizations]
              .sort((a, b) => (b.occurrenceDateTime ?? '').localeCompare(a.occurrenceDateTime ?? ''))
              .map((i) => ({
                key: i.id ?? codeText(i.vaccineCode),
                cells: [codeText(i.vaccineCode), formatDate(i.occurrenceDateTime ?? i.occurrenceString, locale), statusLabel(i.status)],
              }))}
          />
        )}
      </QueryState>
    </Section>
  );
}

/** Every record of the patient on one timeline. */
export function TimelineSection({ patientId }: { patientId: string }) {
  const locale = userLocale();
  const queries = [
    usePatientResources<fhir4.Observation>(patientId, 'Observation'),
    usePatientResources<fhir4.Condition>(patientId, 'Condition'),
    usePatientResources<fhir4.MedicationRequest>(patientId, 'MedicationRequest'),
    usePatientResources<fhir4.AllergyIntolerance>(patientId, 'AllergyIntolerance'),
    usePatientResources<fhir4.Immunization>(patientId, 'Immunization'),
    usePatientResources<fhir4.Encounter>(patientId, 'Encounter'),
    usePatientResources<fhir4.Procedure>(patientId, 'Procedure'),
  ] as UseQueryResult<fhir4.Resource[]>[];
  const pending = queries.some((q) => q.isPending);
  const failed = queries.find((q) => q.isError);
  const combined = {
    isPending: pending,
    isError: !pending && Boolean(failed),
    error: failed?.error,
    data: pending ? undefined : queries.flatMap((q) => q.data ?? []),
  } as UseQueryResult<fhir4.Resource[]>;
  return (
    <Section title="Timeline" id="timeline">
      <QueryState query={combined} empty="No records yet." loadingLabel="Loading records…">
        {(resources) => (
          <ol className="timeline">
            {timeline(resources as Parameters<typeof timeline>[0], locale)
              .slice(0, 200)
              .map((entry) => (
                <li key={entry.key}>
                  <time dateTime={entry.at}>{formatDate(entry.at, locale)}</time>
                  <span className="timeline-kind">{entry.kind}</span>
                  <span className="timeline-title">{entry.title || '—'}</span>
                  {entry.detail ? <span className="timeline-detail">{entry.detail}</span> : null}
                </li>
              ))}
          </ol>
        )}
      </QueryState>
    </Section>
  );
}
