// "in 3 days", "hace 2 horas": an instant relative to now, in the locale's words.

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** `instant` relative to `now` (the largest unit of at least one; "now" under a minute). */
export function formatRelative(instant: string, now: Date, locale: string): string {
  const at = new Date(instant).getTime();
  if (Number.isNaN(at)) return instant;
  const delta = at - now.getTime();
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, ms] of UNITS) {
    if (Math.abs(delta) >= ms) return format.format(Math.round(delta / ms), unit);
  }
  return format.format(0, 'minute');
}

/** Whether `instant` is in the future but within `days` days of `now`. */
export function endsWithin(instant: string | null | undefined, now: Date, days: number): boolean {
  if (!instant) return false;
  const delta = new Date(instant).getTime() - now.getTime();
  return delta > 0 && delta <= days * 86_400_000;
}
