// The notification preferences of Settings: per kind in-app and e-mail, the language of the
// notices, quiet hours for e-mail. Security notices are mandatory (always on, shown disabled),
// and the inbox keeps every notice (in-app cannot be turned off): both are the server's rules,
// a refused save shows its diagnostics.

import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from './session';
import { Empty, ErrorMessage, Field, FormError, Loading, Section, isNotFound } from './components';
import {
  LANGUAGES,
  UTC_OFFSETS,
  browserOffset,
  groupKinds,
  kindLabel,
  type ChannelChoice,
  type NotificationLanguage,
  type NotificationPreferences,
  type PreferencesInput,
} from '../api/notifications';

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
    <Section title="Notifications" id="notification-preferences">
      {preferences.isPending ? (
        <Loading label="Loading your notification preferences…" />
      ) : preferences.isError ? (
        isNotFound(preferences.error) ? (
          <Empty>Notifications are not available on this server.</Empty>
        ) : (
          <ErrorMessage error={preferences.error} title="Your notification preferences cannot be shown" />
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
  const [language, setLanguage] = useState<NotificationLanguage>(initial.language);
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
    save.mutate(preferencesPayload(language, { on: quietOn, start, end, timezone }, kinds));
  };
  const offsets = UTC_OFFSETS.includes(timezone) ? UTC_OFFSETS : [timezone, ...UTC_OFFSETS];
  const groups = groupKinds(Object.keys(kinds));
  return (
    <form onSubmit={submit} noValidate aria-label="Notification preferences">
      <Field label="Language of notifications" id="notification-language" hint="Notices in the portal and e-mails are written in this language.">
        <select
          id="notification-language"
          aria-describedby="notification-language-hint"
          value={language}
          onChange={(e) => {
            change();
            setLanguage(e.target.value as NotificationLanguage);
          }}
        >
          {LANGUAGES.map((option) => (
            <option key={option.value} value={option.value} lang={option.lang}>
              {option.label}
            </option>
          ))}
        </select>
      </Field>
      <fieldset className="field">
        <legend>Quiet hours for e-mail</legend>
        <p className="hint" id="quiet-hours-hint">
          E-mails due during quiet hours wait until they end. Security notices are never held back.
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
          Hold e-mail during quiet hours
        </label>
        {quietOn ? (
          <div className="quiet-hours">
            <Field label="From" id="quiet-start">
              <input id="quiet-start" type="time" required value={start} onChange={(e) => (change(), setStart(e.target.value))} />
            </Field>
            <Field label="Until" id="quiet-end">
              <input id="quiet-end" type="time" required value={end} onChange={(e) => (change(), setEnd(e.target.value))} />
            </Field>
            <Field label="Time zone (offset from UTC)" id="quiet-zone">
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
        Security notices (marked “always on”) are always sent, in the portal and by e-mail, so that you learn at once when someone
        else may be using your account or has opened your record in an emergency. They cannot be turned off. The portal's inbox
        keeps every notice; you choose which ones also come by e-mail.
      </p>
      <div className="table-wrap">
        <table className="prefs-table" data-testid="notification-kinds">
          <caption className="visually-hidden">Which notices you get, in the portal and by e-mail</caption>
          <thead>
            <tr>
              <th scope="col">Notice</th>
              <th scope="col">In the portal</th>
              <th scope="col">By e-mail</th>
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
                      {mandatory ? <span className="muted"> (always on)</span> : null}
                    </th>
                    <td>
                      <input
                        type="checkbox"
                        checked
                        disabled
                        aria-label={`In the portal: ${label}`}
                        aria-describedby={MANDATORY_NOTE}
                      />
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        checked={mandatory || choice.email}
                        disabled={mandatory}
                        aria-label={`By e-mail: ${label}`}
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
          Your notification preferences are saved.
        </p>
      ) : null}
      <button type="submit" disabled={save.isPending}>
        {save.isPending ? 'Saving…' : 'Save notification preferences'}
      </button>
    </form>
  );
}
