// Dates a form holds (`YYYY-MM-DD` of an `<input type="date">`, in the user's time zone) as
// the instants the API wants.

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Midnight (local time) starting the day `date` plus `days`, as RFC 3339; `undefined` when not a date. */
export function dayStart(date: string, days = 0): string | undefined {
  const match = DATE.exec(date);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const at = new Date(year, month - 1, day);
  // `2024-02-31` is no date (the Date constructor would roll it over to March).
  if (at.getFullYear() !== year || at.getMonth() !== month - 1 || at.getDate() !== day) return undefined;
  at.setDate(at.getDate() + days);
  return at.toISOString();
}
