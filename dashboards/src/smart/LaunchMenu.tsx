// The physician's "Launch app" menu on a patient's page: the approved SMART apps with a launch
// URI; choosing one asks the server for a launch (`POST /api/smart/launch`, refused as any
// read of a patient without consent) and opens the app in a new tab. No app, or a server
// without SMART, shows nothing.

import { useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { FormError } from '../ui/components';
import { translate as t } from '../i18n/core';
import { smartApi, type LaunchableApp } from './api';

/** A new tab, opened during the click (a tab opened after an `await` is a blocked pop-up). */
export function openTab(): Window | null {
  return window.open('', '_blank');
}

export function LaunchMenu({ patientId, open = openTab }: { patientId: string; open?: () => Window | null }) {
  const client = useClient();
  const [expanded, setExpanded] = useState(false);
  const [fallback, setFallback] = useState<{ name: string; url: string } | null>(null);
  const apps = useQuery({ queryKey: ['smart', 'apps'], queryFn: () => smartApi.apps(client), retry: false, staleTime: 60_000 });
  const launch = useMutation({
    mutationFn: async ({ app, tab }: { app: LaunchableApp; tab: Window | null }) => {
      try {
        const { launch_url } = await smartApi.launch(client, app.client_id, patientId);
        return { app, tab, url: launch_url };
      } catch (error) {
        tab?.close();
        throw error;
      }
    },
    onSuccess: ({ app, tab, url }) => {
      setExpanded(false);
      if (tab) {
        tab.opener = null;
        tab.location.href = url;
      } else {
        setFallback({ name: app.name, url });
      }
    },
  });
  const launchable = (apps.data ?? []).filter((app) => app.launch_uri);
  if (launchable.length === 0) return null;
  return (
    <div className="launch-menu">
      <button type="button" aria-expanded={expanded} aria-controls="launch-apps" onClick={() => setExpanded(!expanded)}>
        {t('smart.launch')}
      </button>
      {expanded ? (
        <ul id="launch-apps" className="plain-list launch-apps" aria-label={t('smart.launch.list')}>
          {launchable.map((app) => (
            <li key={app.client_id}>
              <button type="button" className="link-button" disabled={launch.isPending} onClick={() => launch.mutate({ app, tab: open() })}>
                {app.name}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <FormError error={launch.error} />
      {fallback ? (
        <p role="status">
          <a href={fallback.url} target="_blank" rel="noopener noreferrer">
            {t('smart.launch.open', { app: fallback.name })}
          </a>
        </p>
      ) : null}
    </div>
  );
}
