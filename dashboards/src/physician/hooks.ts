// Queries of the physician portal.

import { useQuery } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import type { Grant } from '../api/types';

export function useConsents() {
  const client = useClient();
  // Always re-read on mount: access can change at any time (revocation, expiry).
  return useQuery({ queryKey: ['consents'], queryFn: () => client.consents(), staleTime: 0 });
}

/** The grants in force for a patient (regular first, then break-glass). */
export function activeGrants(grants: Grant[] | undefined, patient: string): Grant[] {
  return (grants ?? [])
    .filter((g) => g.patient === patient && g.status === 'active')
    .sort((a, b) => Number(a.break_glass) - Number(b.break_glass));
}

/** The Patients with these ids (consent-restricted). */
export function usePatients(ids: string[]) {
  const client = useClient();
  return useQuery({
    queryKey: ['fhir', 'Patient', 'ids', ids],
    enabled: ids.length > 0,
    queryFn: async () => (await client.searchAll<fhir4.Patient>('Patient', { _id: ids.join(','), _count: 100 })).resources,
  });
}

/** Whether the grants in force for `patient` cover records of `type`. */
export function shares(grants: Grant[] | undefined, patient: string, type: string): boolean {
  return activeGrants(grants, patient).some((g) => g.scope === '*' || g.scope.includes(type));
}
