// The demographics inputs shared by registration and Settings → Your details: given and family
// names, date of birth, gender and an optional phone; a problem is shown at its field.

import { GENDERS, FIELD_IDS, localToday, type DemographicsForm, type Problem } from './demographics';
import { Field } from './components';
import { translate as t } from '../i18n/core';

export function DemographicsFields({
  value,
  onChange,
  problem,
}: {
  value: DemographicsForm;
  onChange: (value: DemographicsForm) => void;
  problem: Problem | null;
}) {
  const set = (key: keyof DemographicsForm) => (event: { target: { value: string } }) => onChange({ ...value, [key]: event.target.value });
  const invalid = (field: Problem['field']) => (problem?.field === field ? true : undefined);
  const described = (field: Problem['field'], hint?: string) =>
    [hint, problem?.field === field ? `${FIELD_IDS[field]}-problem` : undefined].filter(Boolean).join(' ') || undefined;
  const message = (field: Problem['field']) =>
    problem?.field === field ? (
      <p className="form-error" id={`${FIELD_IDS[field]}-problem`} role="alert">
        {problem.message}
      </p>
    ) : null;
  return (
    <>
      <Field label={t('demo.given')} id="given" hint={t('demo.given.hint')}>
        <input id="given" autoComplete="given-name" required value={value.given} onChange={set('given')} aria-invalid={invalid('given')} aria-describedby={described('given', 'given-hint')} />
      </Field>
      {message('given')}
      <Field label={t('demo.family')} id="family">
        <input id="family" autoComplete="family-name" required value={value.family} onChange={set('family')} aria-invalid={invalid('family')} aria-describedby={described('family')} />
      </Field>
      {message('family')}
      <Field label={t('demo.birth')} id="birth-date">
        <input
          id="birth-date"
          type="date"
          autoComplete="bday"
          required
          min="1900-01-01"
          max={localToday()}
          value={value.birthDate}
          onChange={set('birthDate')}
          aria-invalid={invalid('birth_date')}
          aria-describedby={described('birth_date')}
        />
      </Field>
      {message('birth_date')}
      <Field label={t('detail.gender')} id="gender">
        <select id="gender" required value={value.gender} onChange={set('gender')} aria-invalid={invalid('gender')} aria-describedby={described('gender')}>
          <option value="">{t('demo.choose')}</option>
          {GENDERS.map((g) => (
            <option key={g.value} value={g.value}>
              {t(g.label)}
            </option>
          ))}
        </select>
      </Field>
      {message('gender')}
      <Field label={t('demo.phone')} id="phone" hint={t('demo.phone.hint')}>
        <input id="phone" type="tel" autoComplete="tel" value={value.phone} onChange={set('phone')} aria-invalid={invalid('phone')} aria-describedby={described('phone', 'phone-hint')} />
      </Field>
      {message('phone')}
    </>
  );
}
