//! `medilink-bench clinical`: the latency of one offline drug check. A patient with 20 active
//! medications and 5 drug allergies, named as the Synthea sample names them, and one proposed
//! drug checked `rounds` times with the offline `Checker`; prints p50/p99/max in µs.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use medilink_clinical::{ActiveAllergy, ActiveMedication, Checker, KnowledgeBase, MedicationInput};

const ACTIVE: [&str; 20] = [
    "Warfarin Sodium 5 MG Oral Tablet",
    "Simvastatin 20 MG Oral Tablet",
    "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
    "lisinopril 10 MG Oral Tablet",
    "Amlodipine 5 MG Oral Tablet",
    "Hydrochlorothiazide 25 MG Oral Tablet",
    "FLUoxetine 20 MG Oral Capsule",
    "Clopidogrel 75 MG Oral Tablet",
    "Digoxin 0.125 MG Oral Tablet",
    "Furosemide 40 MG Oral Tablet",
    "carvedilol 25 MG Oral Tablet",
    "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
    "tramadol hydrochloride 50 MG Oral Tablet",
    "Verapamil Hydrochloride 40 MG",
    "predniSONE 5 MG Oral Tablet",
    "Methotrexate 2.5 MG Oral Tablet",
    "Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray",
    "24 HR Donepezil hydrochloride 10 MG / Memantine hydrochloride 28 MG Extended Release Oral Capsule",
    "Fexofenadine hydrochloride 30 MG Oral Tablet",
    "pregabalin 100 MG Oral Capsule",
];

const ALLERGIES: [&str; 5] = [
    "Allergy to penicillin",
    "Sulfa drugs",
    "NSAID",
    "Latex allergy",
    "Allergy to peanuts",
];

const PROPOSED: &str = "Naproxen sodium 220 MG Oral Tablet";

pub(crate) async fn run(rounds: usize) -> Result<()> {
    let kb = KnowledgeBase::offline();
    let resolve = |text: &str| kb.resolve(&MedicationInput::text(text));
    let active: Vec<ActiveMedication> = ACTIVE
        .iter()
        .enumerate()
        .map(|(index, text)| ActiveMedication {
            drug: resolve(text),
            reference: Some(format!("MedicationRequest/{index}")),
        })
        .collect();
    let allergies: Vec<ActiveAllergy> = ALLERGIES
        .iter()
        .enumerate()
        .map(|(index, text)| ActiveAllergy {
            substance: resolve(text),
            reference: Some(format!("AllergyIntolerance/{index}")),
            criticality: None,
        })
        .collect();
    let proposed = [resolve(PROPOSED)];
    let checker = Checker::offline();
    let first = checker.check(&proposed, &active, &allergies).await?;
    if first.is_empty() {
        bail!("the benchmark patient should have findings");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let findings = checker.check(&proposed, &active, &allergies).await?;
        times.push(started.elapsed());
        std::hint::black_box(findings);
    }
    times.sort_unstable();
    let at = |quantile: f64| {
        let index = ((times.len() as f64 * quantile).ceil() as usize).clamp(1, times.len()) - 1;
        times[index].as_secs_f64() * 1e6
    };
    println!(
        "clinical: {} findings per check ({} active medications, {} allergies), {rounds} checks: \
         p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        first.len(),
        active.len(),
        allergies.len(),
        at(0.50),
        at(0.99),
        at(1.0),
    );
    Ok(())
}
