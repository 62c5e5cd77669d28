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
import { dosageText, kindLabel, medicationName, timeline } from '../fhir/timeline';
import { translate as t } from '../i18n/core';

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
        <ul className="chart-grid" aria-label={kind === 'vitals' ? t('clinical.vitalTrends') : t('clinical.labTrends')}>
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
                    ? ` · ${t('clinical.reference', { range: formatReferenceRange(s.latest.referenceRange?.[0], locale) })}`
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
          <caption className="visually-hidden">{kind === 'vitals' ? t('clinical.vitals') : t('nav.labs')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('labs.date')}</th>
              <th scope="col">{kind === 'vitals' ? t('clinical.measurement') : t('labs.test')}</th>
              <th scope="col">{t('labs.value')}</th>
              <th scope="col">{t('clinical.range')}</th>
              <th scope="col">{t('labs.flag')}</th>
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
    <Section title={t('clinical.vitals')} id="vitals">
      <QueryState query={query} loadingLabel={t('clinical.loadingVitals')}>
        {(all) => {
          const { vitals } = splitObservations(all);
          return vitals.length ? <ObservationsView observations={vitals} kind="vitals" /> : <p className="state state-empty">{t('clinical.noVitals')}</p>;
        }}
      </QueryState>
    </Section>
  );
}

export function LabsSection({ query }: { query: UseQueryResult<fhir4.Observation[]> }) {
  return (
    <Section title={t('nav.labs')} id="labs">
      <QueryState query={query} loadingLabel={t('clinical.loadingLabs')}>
        {(all) => {
          const { labs } = splitObservations(all);
          return labs.length ? <ObservationsView observations={labs} kind="labs" /> : <p className="state state-empty">{t('clinical.noLabs')}</p>;
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
    <Section title={t('clinical.conditions')} id="conditions">
      <QueryState query={query} empty={t('clinical.noConditions')}>
        {(conditions) => (
          <SimpleTable
            caption={t('clinical.conditions')}
            head={[t('type.Condition'), t('sharing.col.status'), t('clinical.onset'), t('clinical.recorded')]}
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
    <Section title={t('nav.medications')} id="medications">
      <QueryState query={query} empty={t('clinical.noMedications')}>
        {(requests) => (
          <SimpleTable
            caption={t('nav.medications')}
            head={[t('type.MedicationRequest'), t('clinical.dosage'), t('sharing.col.status'), t('clinical.prescribed')]}
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
    <Section title={t('nav.allergies')} id="allergies">
      <QueryState query={query} empty={t('clinical.noAllergies')}>
        {(allergies) => (
          <SimpleTable
            caption={t('nav.allergies')}
            head={[t('clinical.substance'), t('clinical.reaction'), t('clinical.criticality'), t('sharing.col.status'), t('clinical.recorded')]}
            rows={allergies.map((a) => ({
              key: a.id ?? codeText(a.code),
              cells: [
                codeText(a.code),
                a.reaction?.flatMap((r) => r.manifestation.map(codeText)).join(', ') || '—',
                a.criticality === 'high' ? <Badge tone="bad">{t('flag.high')}</Badge> : statusLabel(a.criticality) || '—',
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
    <Section title={t('nav.immunizations')} id="immunizations">
      <QueryState query={query} empty={t('clinical.noImmunizations')}>
        {(immunizations) => (
          <SimpleTable
            caption={t('nav.immunizations')}
            head={[t('clinical.vaccine'), t('labs.date'), t('sharing.col.status')]}
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
    <Section title={t('timeline.title')} id="timeline">
      <QueryState query={combined} empty={t('timeline.empty')} loadingLabel={t('timeline.loading')}>
        {(resources) => (
          // A scrolling list: focusable, so that keyboard users can scroll it.
          <ol className="timeline" tabIndex={0} aria-label={t('timeline.title')}>
            {timeline(resources as Parameters<typeof timeline>[0], locale)
              .slice(0, 200)
              .map((entry) => (
                <li key={entry.key}>
                  <time dateTime={entry.at}>{formatDate(entry.at, locale)}</time>
                  <span className="timeline-kind">{kindLabel(entry.kind)}</span>
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
