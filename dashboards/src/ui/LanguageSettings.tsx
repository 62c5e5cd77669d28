// Settings: the language of the portal (and of notices and e-mails: one stored choice, kept
// with the notification preferences), with how dates and numbers then read.

import { useState } from 'react';
import { Field, FormError, Section } from './components';
import { useI18n } from '../i18n/I18nProvider';
import { LANGUAGES, LANGUAGE_NAMES, languageOf, type Language } from '../i18n/core';
import { formatDate, formatDateTime, formatQuantity } from '../fhir/format';

export function LanguageSection() {
  const { t, lang, locale, setLanguage, switching } = useI18n();
  const [error, setError] = useState<unknown>(null);
  const now = new Date().toISOString();
  const change = async (value: string) => {
    const next = languageOf(value);
    if (!next || next === lang) return;
    setError(null);
    try {
      await setLanguage(next);
    } catch (failure) {
      setError(failure);
    }
  };
  return (
    <Section title={t('settings.language')} id="language">
      <Field label={t('settings.language.label')} id="ui-language" hint={t('settings.language.hint')}>
        <select id="ui-language" value={lang} disabled={switching} aria-describedby="ui-language-hint" onChange={(e) => void change(e.target.value)}>
          {LANGUAGES.map((option: Language) => (
            <option key={option} value={option} lang={option}>
              {LANGUAGE_NAMES[option]}
            </option>
          ))}
        </select>
      </Field>
      <FormError error={error} />
      <p data-testid="format-sample">
        {t('settings.formats', {
          locale,
          today: formatDate(now.slice(0, 10), locale),
          now: formatDateTime(now, locale),
          weight: formatQuantity({ value: 72.5, unit: 'kg' }, locale),
        })}
      </p>
    </Section>
  );
}
