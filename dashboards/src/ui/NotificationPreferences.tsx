// The notification preferences of Settings: per kind in-app and e-mail, and quiet hours for
// e-mail (the language of notices is the portal's: Settings' Language section stores it).
// Security notices are mandatory (always on, shown disabled), and the inbox keeps every
// notice (in-app cannot be turned off): both are the server's rules, a refused save shows
// its diagnostics.

import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from './session';
import { Empty, ErrorMessage, Field, FormError, Loading, Section, isNotFound } from './components';
import {
  UTC_OFFSETS,
  browserOffset,
  groupKinds,
  kindLabel,
  type ChannelChoice,
  type NotificationLanguage,
  type NotificationPreferences,
  type PreferencesInput,
} from '../api/notifications';
import { translate as t } from '../i18n/core';

const MANDATORY_NOTE = 'mandatory-note';

export function NotificationPreferencesSection() {
  const client = useClient();
  const preferences = useQuery({
    queryKey: ['notifications', 'preferences'],
    queryFn: () => client.notificationPreferences(),
    staleTime: 0,
    retry: false,
  });
  return (
    <Section title={t('nav.notifications')} id="notification-preferences">
      {preferences.isPending ? (
        <Loading label={t('prefs.loading')} />
      ) : preferences.isError ? (
        isNotFound(preferences.error) ? (
          <Empty>{t('notices.unavailable')}</Empty>
        ) : (
          <ErrorMessage error={preferences.error} title={t('prefs.failed')} />
        )
      ) : (
        <PreferencesForm initial={preferences.data} />
      )}
    </Section>
  );
}

/** What is sent for a kind: mandatory kinds and in-app always on, whatever the form holds. */
function effective(choice: ChannelChoice): ChannelChoice {
  return choice.mandatory ? { ...choice, in_app: true, email: true } : { ...choice, in_app: true };
}

/** The body of the `PUT` for the form's state. */
export function preferencesPayload(
  language: NotificationLanguage,
  quiet: { on: boolean; start: string; end: string; timezone: string },
  kinds: NotificationPreferences['kinds'],
): PreferencesInput {
  return {
    language,
    quiet_hours: quiet.on ? { start: quiet.start, end: quiet.end, timezone: quiet.timezone } : null,
    kinds: Object.fromEntries(Object.entries(kinds).map(([kind, choice]) => [kind, effective(choice)])),
  };
}

function PreferencesForm({ initial }: { initial: NotificationPreferences }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const [quietOn, setQuietOn] = useState(initial.quiet_hours != null);
  const [start, setStart] = useState(initial.quiet_hours?.start ?? '22:00');
  const [end, setEnd] = useState(initial.quiet_hours?.end ?? '07:00');
  const [timezone, setTimezone] = useState(initial.quiet_hours?.timezone ?? browserOffset());
  const [kinds, setKinds] = useState(initial.kinds);
  const [saved, setSaved] = useState(false);
  const save = useMutation({
    mutationFn: (body: PreferencesInput) => client.saveNotificationPreferences(body),
    onSuccess: (stored) => {
      queryClient.setQueryData(['notifications', 'preferences'], stored);
      setKinds(stored.kinds);
      setSaved(true);
    },
  });
  const change = () => {
    setSaved(false);
    save.reset();
  };
  const setEmail = (kind: string, email: boolean) => {
    change();
    setKinds((current) => {
      const choice = current[kind];
      return choice ? { ...current, [kind]: { ...choice, email } } : current;
    });
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    // The language is switched on its own (Settings, Language); keep the stored one.
    const language = queryClient.getQueryData<NotificationPreferences>(['notifications', 'preferences'])?.language ?? initial.language;
    save.mutate(preferencesPayload(language, { on: quietOn, start, end, timezone }, kinds));
  };
  const offsets = UTC_OFFSETS.includes(timezone) ? UTC_OFFSETS : [timezone, ...UTC_OFFSETS];
  const groups = groupKinds(Object.keys(kinds));
  return (
    <form onSubmit={submit} noValidate aria-label={t('prefs.form')}>
      <fieldset className="field">
        <legend>{t('prefs.quiet')}</legend>
        <p className="hint" id="quiet-hours-hint">
          {t('prefs.quiet.hint')}
        </p>
        <label>
          <input
            type="checkbox"
            checked={quietOn}
            aria-describedby="quiet-hours-hint"
            onChange={(e) => {
              change();
              setQuietOn(e.target.checked);
            }}
          />{' '}
          {t('prefs.quiet.hold')}
        </label>
        {quietOn ? (
          <div className="quiet-hours">
            <Field label={t('prefs.from')} id="quiet-start">
              <input id="quiet-start" type="time" required value={start} onChange={(e) => (change(), setStart(e.target.value))} />
            </Field>
            <Field label={t('consent.until')} id="quiet-end">
              <input id="quiet-end" type="time" required value={end} onChange={(e) => (change(), setEnd(e.target.value))} />
            </Field>
            <Field label={t('prefs.zone')} id="quiet-zone">
              <select id="quiet-zone" value={timezone} onChange={(e) => (change(), setTimezone(e.target.value))}>
                {offsets.map((offset) => (
                  <option key={offset} value={offset}>
                    {offset === 'UTC' ? 'UTC' : `UTC${offset}`}
                  </option>
                ))}
              </select>
            </Field>
          </div>
        ) : null}
      </fieldset>
      <p className="hint" id={MANDATORY_NOTE}>
        {t('prefs.mandatory')}
      </p>
      <div className="table-wrap">
        <table className="prefs-table" data-testid="notification-kinds">
          <caption className="visually-hidden">{t('prefs.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('prefs.notice')}</th>
              <th scope="col">{t('prefs.inPortal')}</th>
              <th scope="col">{t('prefs.byEmail')}</th>
            </tr>
          </thead>
          {groups.map((group) => (
            <tbody key={group.title}>
              <tr>
                <th scope="rowgroup" colSpan={3}>
                  {group.title}
                </th>
              </tr>
              {group.kinds.map((kind) => {
                const choice = kinds[kind];
                const label = kindLabel(kind);
                const mandatory = choice.mandatory;
                return (
                  <tr key={kind} data-testid="kind-row" data-kind={kind}>
                    <th scope="row">
                      {label}
                      {mandatory ? <span className="muted"> ({t('prefs.alwaysOn')})</span> : null}
                    </th>
                    <td>
                      <input
                        type="checkbox"
                        checked
                        disabled
                        aria-label={`${t('prefs.inPortal')}: ${label}`}
                        aria-describedby={MANDATORY_NOTE}
                      />
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        checked={mandatory || choice.email}
                        disabled={mandatory}
                        aria-label={`${t('prefs.byEmail')}: ${label}`}
                        aria-describedby={mandatory ? MANDATORY_NOTE : undefined}
                        onChange={(e) => setEmail(kind, e.target.checked)}
                      />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          ))}
        </table>
      </div>
      <FormError error={save.error} />
      {saved ? (
        <p className="form-success" role="status">
          {t('prefs.saved')}
        </p>
      ) : null}
      <button type="submit" disabled={save.isPending}>
        {save.isPending ? t('prefs.saving') : t('prefs.save')}
      </button>
    </form>
  );
}
