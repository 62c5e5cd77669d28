// Queries of the physician portal.

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import type { Grant } from '../api/types';
import type { MedicationInput } from '../api/clinical';

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

/**
 * The interaction check of `medications` (for `patient`, or none: "what if"), re-run whenever
 * they change; nothing is asked while the list is shorter than `minimum`.
 */
export function useInteractionCheck(patient: string | undefined, medications: MedicationInput[], minimum = 1) {
  const client = useClient();
  const queryClient = useQueryClient();
  return useQuery({
    queryKey: ['clinical', 'check', patient ?? null, medications],
    enabled: medications.length >= minimum,
    // A check reflects the record at this moment: never serve an old one.
    staleTime: 0,
    gcTime: 0,
    queryFn: async () => {
      const check = await client.checkInteractions({ ...(patient ? { patient } : {}), medications });
      // The server keeps every check of a patient: their history has one more row.
      if (patient) void queryClient.invalidateQueries({ queryKey: ['clinical', 'history', patient] });
      return check;
    },
  });
}

/** A patient's earlier checks and acknowledgements. */
export function useClinicalHistory(patient: string) {
  const client = useClient();
  return useQuery({ queryKey: ['clinical', 'history', patient], queryFn: () => client.clinicalHistory(patient) });
}
