import { describe, expect, it } from 'vitest';
import { activeGrants, shares } from './hooks';
import { endOfDay, scopeText } from '../patient/ConsentsPage';
import type { Grant } from '../api/types';

const grant = (patch: Partial<Grant>): Grant => ({
  id: 'g',
  patient: 'p1',
  grantee: 'doc',
  grantee_name: 'Dr Doc',
  scope: '*',
  purpose: 'TREAT',
  start: '2024-01-01T00:00:00Z',
  end: null,
  status: 'active',
  initiator: 'patient',
  break_glass: false,
  reason: null,
  ...patch,
});

describe('consent scope', () => {
  it('counts only grants in force for the patient, regular ones first', () => {
    const grants = [
      grant({ id: 'bg', purpose: 'ETREAT', break_glass: true }),
      grant({ id: 'old', status: 'revoked' }),
      grant({ id: 'other', patient: 'p2' }),
      grant({ id: 'regular', scope: ['Observation'] }),
    ];
    expect(activeGrants(grants, 'p1').map((g) => g.id)).toEqual(['regular', 'bg']);
  });

  it('shares a type when any grant in force covers it', () => {
    const limited = [grant({ scope: ['Observation', 'Condition'] })];
    expect(shares(limited, 'p1', 'Observation')).toBe(true);
    expect(shares(limited, 'p1', 'AllergyIntolerance')).toBe(false);
    expect(shares([...limited, grant({ scope: '*', break_glass: true })], 'p1', 'AllergyIntolerance')).toBe(true);
    expect(shares([grant({ status: 'expired' })], 'p1', 'Observation')).toBe(false);
    expect(shares(undefined, 'p1', 'Observation')).toBe(false);
  });

  it('names the scope and ends a chosen day at the next local midnight', () => {
    expect(scopeText('*')).toBe('All records');
    expect(scopeText(['Observation', 'Immunization'])).toBe('Vital signs and lab results, Immunizations');
    const end = new Date(endOfDay('2024-03-05'));
    expect([end.getFullYear(), end.getMonth(), end.getDate(), end.getHours()]).toEqual([2024, 2, 6, 0]);
  });
});
