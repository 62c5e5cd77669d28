#!/usr/bin/env python3
"""Regenerate every file under medilink-clinical/data/ (issue #13).

Python 3 standard library only; `pip` fetches the two MIT-licensed wheels the data comes from
into a temporary directory (or pass --wheels DIR holding them already, or their unpacked trees):

  drug-interaction-mcp           INTERACTIONS: ~176 drug pairs with severity and texts
  drug-named-entity-recognition  drug names, brand names, MeSH tree numbers, DrugBank ids

Usage: python3 tools/clinical/regen.py [--wheels DIR] [--synthea DIR]
(run from the repository root; --synthea defaults to /work/shared/data/synthea)

Outputs (all small; the crate embeds them with include_str!):
  interactions.json      the MCP table, each side reduced to canonical drug/class names
  onc_high_priority.json the ONC high-priority DDI list (Phansalkar et al., JAMIA 2012)
  drugs.json             every drug and class the rules name, brands, classes (MeSH + hand table)
  allergy_rules.json     allergy cross-reactivity rules with their sources
  rxnorm.json            RxNorm code -> display + ingredient names (Synthea sample + hand list)
  LICENSES/              the two packages' licence texts
"""

import argparse
import bz2
import glob
import importlib
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "medilink-clinical", "data")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# ------------------------------------------------------------------------------------------
# Classes. `mesh`: MeSH tree numbers whose descendants are members (D02/D03 chemical trees);
# `members`: a hand list for pharmacological classes the chemical trees do not express;
# `allergy_group`: an allergy to one member flags the others as "same class".
# ------------------------------------------------------------------------------------------
CLASSES = {
    "beta-lactams": dict(display="Beta-lactam antibiotics", mesh=["D02.065.589.099"],
                         synonyms=["beta-lactam", "beta-lactams", "beta lactam antibiotics"]),
    "penicillins": dict(display="Penicillins", parents=["beta-lactams"], allergy_group=True,
                        mesh=["D02.065.589.099.750"],
                        members=["amoxicillin", "ampicillin", "phenoxymethylpenicillin",
                                 "penicillin g", "piperacillin", "dicloxacillin", "nafcillin"],
                        synonyms=["penicillin", "penicillins", "penicillin antibiotics"]),
    "cephalosporins": dict(display="Cephalosporins", parents=["beta-lactams"], allergy_group=True,
                           mesh=["D02.065.589.099.249"],
                           members=["cephalexin", "cefadroxil", "cefazolin", "cefaclor",
                                    "cefuroxime", "cefprozil", "ceftriaxone", "cefdinir",
                                    "cefepime", "ceftazidime", "cefpodoxime"],
                           synonyms=["cephalosporin", "cephalosporins"]),
    # cephalosporins whose R1 side chain is identical or similar to that of amoxicillin/ampicillin
    "aminocephalosporins": dict(display="Cephalosporins with an amoxicillin-like side chain",
                                parents=["cephalosporins"],
                                members=["cephalexin", "cefadroxil", "cefaclor", "cefprozil"],
                                synonyms=[]),
    "carbapenems": dict(display="Carbapenems", parents=["beta-lactams"], allergy_group=True,
                        mesh=["D02.065.589.099.124"],
                        members=["imipenem", "meropenem", "ertapenem", "doripenem"],
                        synonyms=["carbapenem", "carbapenems"]),
    "sulfonamide antibiotics": dict(display="Sulfonamide antibiotics", allergy_group=True,
                                    mesh=["D02.065.884.725"],
                                    members=["sulfamethoxazole", "sulfadiazine", "sulfisoxazole"],
                                    synonyms=["sulfa", "sulfa drug", "sulfa drugs", "sulfonamide",
                                              "sulfonamides", "sulfonamide antibiotics",
                                              "sulphonamides"]),
    "sulfonylureas": dict(display="Sulfonylureas", mesh=["D02.886.590.795"],
                          members=["glipizide", "glyburide", "glimepiride", "gliclazide"],
                          synonyms=["sulfonylurea", "sulfonylureas"]),
    "thiazides": dict(display="Thiazide diuretics",
                      members=["hydrochlorothiazide", "chlorthalidone", "indapamide", "metolazone"],
                      synonyms=["thiazide", "thiazides", "thiazide diuretics"]),
    "loop diuretics": dict(display="Loop diuretics", members=["furosemide", "bumetanide", "torsemide"],
                           synonyms=["loop diuretic", "loop diuretics"]),
    "nsaids": dict(display="NSAIDs",
                   members=["aspirin", "ibuprofen", "naproxen", "diclofenac", "ketorolac",
                            "indomethacin", "meloxicam", "celecoxib", "ketoprofen", "piroxicam",
                            "etodolac", "nabumetone"],
                   synonyms=["nsaid", "nsaids", "non-steroidal anti-inflammatory drugs",
                             "nonsteroidal anti-inflammatory drugs", "anti-inflammatory agents, non-steroidal"]),
    "serotonergic agents": dict(display="Serotonergic agents",
                                members=["tramadol", "meperidine", "dextromethorphan", "trazodone",
                                         "buspirone", "tryptophan", "5-hydroxytryptophan",
                                         "st. john's wort", "mirtazapine", "clomipramine",
                                         "methylene blue", "fentanyl", "lithium"],
                                synonyms=["serotonergic", "serotonergic agents", "serotonergic drugs"]),
    "ssris": dict(display="SSRIs", parents=["serotonergic agents"],
                  members=["fluoxetine", "sertraline", "paroxetine", "citalopram", "escitalopram",
                           "fluvoxamine"],
                  synonyms=["ssri", "ssris", "selective serotonin reuptake inhibitor",
                            "selective serotonin reuptake inhibitors"]),
    "snris": dict(display="SNRIs", parents=["serotonergic agents"],
                  members=["venlafaxine", "duloxetine", "desvenlafaxine", "milnacipran"],
                  synonyms=["snri", "snris"]),
    "triptans": dict(display="Triptans", parents=["serotonergic agents"],
                     members=["sumatriptan", "rizatriptan", "zolmitriptan", "eletriptan"],
                     synonyms=["triptan", "triptans"]),
    "mao inhibitors": dict(display="MAO inhibitors",
                           members=["phenelzine", "tranylcypromine", "isocarboxazid", "selegiline",
                                    "rasagiline"],
                           synonyms=["maoi", "maois", "mao inhibitor", "mao inhibitors",
                                     "monoamine oxidase inhibitors"]),
    "nitrates": dict(display="Nitrates",
                     members=["nitroglycerin", "isosorbide mononitrate", "isosorbide dinitrate",
                              "amyl nitrite"],
                     synonyms=["nitrate", "nitrates", "organic nitrates"]),
    "pde5 inhibitors": dict(display="PDE5 inhibitors",
                            members=["sildenafil", "tadalafil", "vardenafil", "avanafil"],
                            synonyms=["pde5 inhibitor", "pde5 inhibitors",
                                      "phosphodiesterase 5 inhibitors"]),
    "strong cyp3a4 inhibitors": dict(display="Strong CYP3A4 inhibitors",
                                     members=["clarithromycin", "ketoconazole", "itraconazole",
                                              "ritonavir", "cobicistat", "posaconazole",
                                              "voriconazole", "nefazodone", "telithromycin",
                                              "indinavir", "nelfinavir", "saquinavir"],
                                     synonyms=["strong cyp3a4 inhibitor", "strong cyp3a4 inhibitors",
                                               "cyp3a4 inhibitors"]),
    "strong cyp3a4 inducers": dict(display="Strong CYP3A4 inducers",
                                   members=["rifampin", "carbamazepine", "phenytoin", "phenobarbital",
                                            "rifabutin", "st. john's wort"],
                                   synonyms=["cyp3a4 inducer", "cyp3a4 inducers",
                                             "strong cyp3a4 inducers"]),
    "cyp1a2 inhibitors": dict(display="CYP1A2 inhibitors",
                              members=["ciprofloxacin", "fluvoxamine"],
                              synonyms=["cyp1a2 inhibitor", "cyp1a2 inhibitors"]),
    "statins": dict(display="Statins",
                    members=["atorvastatin", "simvastatin", "lovastatin", "rosuvastatin",
                             "pravastatin", "fluvastatin", "pitavastatin"],
                    synonyms=["statin", "statins", "hmg-coa reductase inhibitors"]),
    "qt-prolonging agents": dict(display="QT-prolonging agents",
                                 members=["amiodarone", "dronedarone", "dofetilide", "sotalol",
                                          "quinidine", "disopyramide", "procainamide",
                                          "thioridazine", "pimozide", "cisapride", "astemizole",
                                          "terfenadine", "bepridil", "ziprasidone"],
                                 synonyms=["qt prolonging agents", "qt-prolonging agents",
                                           "qt prolonging drugs"]),
    "ergot alkaloids": dict(display="Ergot alkaloids",
                            members=["ergotamine", "dihydroergotamine", "methylergonovine",
                                     "ergonovine"],
                            synonyms=["ergot alkaloid", "ergot alkaloids", "ergots"]),
    "proton pump inhibitors": dict(display="Proton pump inhibitors",
                                   members=["omeprazole", "esomeprazole", "lansoprazole",
                                            "pantoprazole", "rabeprazole", "dexlansoprazole"],
                                   synonyms=["proton pump inhibitor", "proton pump inhibitors",
                                             "ppi", "ppis"]),
    "macrolides": dict(display="Macrolide antibiotics", allergy_group=True,
                       members=["erythromycin", "clarithromycin", "azithromycin"],
                       synonyms=["macrolide", "macrolides"]),
    "fluoroquinolones": dict(display="Fluoroquinolones", allergy_group=True,
                             members=["ciprofloxacin", "levofloxacin", "moxifloxacin", "ofloxacin"],
                             synonyms=["fluoroquinolone", "fluoroquinolones", "quinolones"]),
    "tetracyclines": dict(display="Tetracyclines", allergy_group=True,
                          members=["tetracycline", "doxycycline", "minocycline"],
                          synonyms=["tetracyclines"]),
    "opioids": dict(display="Opioids",
                    members=["oxycodone", "hydrocodone", "morphine", "fentanyl", "codeine",
                             "tramadol", "meperidine", "methadone", "buprenorphine",
                             "hydromorphone"],
                    synonyms=["opioid", "opioids", "opiates"]),
    "benzodiazepines": dict(display="Benzodiazepines",
                            members=["alprazolam", "diazepam", "lorazepam", "clonazepam",
                                     "midazolam", "triazolam"],
                            synonyms=["benzodiazepine", "benzodiazepines"]),
    "ace inhibitors": dict(display="ACE inhibitors",
                           members=["lisinopril", "enalapril", "ramipril", "captopril", "benazepril"],
                           synonyms=["ace inhibitor", "ace inhibitors"]),
    "calcium channel blockers": dict(display="Calcium channel blockers",
                                     members=["verapamil", "diltiazem", "amlodipine", "nifedipine"],
                                     synonyms=["calcium channel blocker", "calcium channel blockers"]),
    "anticoagulants": dict(display="Anticoagulants",
                           members=["warfarin", "apixaban", "rivaroxaban", "dabigatran",
                                    "enoxaparin", "heparin"],
                           synonyms=["anticoagulant", "anticoagulants", "blood thinners"]),
    "oral contraceptives": dict(display="Oral contraceptives",
                                members=["ethinyl estradiol", "norethindrone", "levonorgestrel"],
                                synonyms=["oral contraceptive", "oral contraceptives",
                                          "birth control pill", "birth control pills"]),
    "beta blockers": dict(display="Beta blockers",
                          members=["metoprolol", "atenolol", "propranolol", "carvedilol"],
                          synonyms=["beta blocker", "beta blockers"]),
    "alpha blockers": dict(display="Alpha blockers",
                           members=["tamsulosin", "doxazosin", "terazosin", "prazosin"],
                           synonyms=["alpha blocker", "alpha blockers"]),
    "corticosteroids": dict(display="Corticosteroids",
                            members=["prednisone", "prednisolone", "dexamethasone",
                                     "methylprednisolone", "hydrocortisone"],
                            synonyms=["corticosteroid", "corticosteroids", "steroids"]),
    "potassium-sparing diuretics": dict(display="Potassium-sparing diuretics",
                                        members=["spironolactone", "eplerenone", "amiloride",
                                                 "triamterene"],
                                        synonyms=["potassium-sparing diuretic",
                                                  "potassium-sparing diuretics"]),
    "sglt2 inhibitors": dict(display="SGLT2 inhibitors",
                             members=["empagliflozin", "dapagliflozin", "canagliflozin"],
                             synonyms=["sglt2 inhibitor", "sglt2 inhibitors"]),
    "hiv protease inhibitors": dict(display="HIV protease inhibitors",
                                    members=["ritonavir", "atazanavir", "darunavir", "lopinavir"],
                                    synonyms=["hiv protease inhibitor", "hiv protease inhibitors"]),
    "iodinated contrast": dict(display="Iodinated contrast media", members=[],
                               synonyms=["iodinated contrast", "iv contrast", "contrast dye"]),
}

# Names whose NER canonical is unhelpful, and terms the NER dictionary does not know.
CANONICAL = {
    "vitamin e (alpha-tocopherol)": "vitamin e", "ergocalciferol": "vitamin d",
    "thyroxine": "levothyroxine", "synthroid": "levothyroxine", "thyroid hormone": "levothyroxine",
    "nitroglycerin sublingual": "nitroglycerin", "nitrostat": "nitroglycerin",
    "ethanol": "alcohol", "hypericum": "st. john's wort", "st john's wort": "st. john's wort",
    "dilantin": "phenytoin", "inh": "isoniazid", "demerol": "meperidine", "dxm": "dextromethorphan",
    "versed": "midazolam", "z-pack": "azithromycin", "cigarettes": "smoking", "tobacco": "smoking",
    "kava kava": "kava", "cranberry juice": "cranberry", "grapefruit juice": "grapefruit",
    "magnesium supplement": "magnesium", "potassium supplement": "potassium",
    "potassium chloride": "potassium", "iron supplement": "iron", "ferrous sulfate": "iron",
    "green tea extract": "green tea", "soy supplement": "soy", "soy protein": "soy",
    "garlic supplement": "garlic", "calcium supplement": "calcium", "tums": "calcium",
    "rifampicin": "rifampin", "paracetamol": "acetaminophen", "acetylsalicylic acid": "aspirin",
    "penicillin v": "phenoxymethylpenicillin", "cefalexin": "cephalexin",
    "valproate": "valproic acid", "l-tryptophan": "tryptophan", "5-htp": "5-hydroxytryptophan",
    "rapamycin": "sirolimus", "alpha-tocopherol": "vitamin e", "coq10": "ubidecarenone",
    "coenzyme q10": "ubidecarenone", "hctz": "hydrochlorothiazide", "6-mp": "mercaptopurine",
    "folate": "folic acid", "omega-3": "omega-3 fatty acids", "ginkgo": "ginkgo biloba",
    "insulin human, isophane": "insulin",
    "progestin-only (norethindrone) oral contraceptives": "norethindrone",
    "levonorgestrel intrauterine system": "levonorgestrel", "ethinylestradiol": "ethinyl estradiol",
    "clavulanic acid": "clavulanate", "regular insulin, human": "insulin",
}
# multi-ingredient brands and synonyms
PRODUCTS = {
    "bactrim": ["sulfamethoxazole", "trimethoprim"], "tmp-smx": ["sulfamethoxazole", "trimethoprim"],
    "septra": ["sulfamethoxazole", "trimethoprim"], "sinemet": ["carbidopa", "levodopa"],
    "augmentin": ["amoxicillin", "clavulanate"], "percocet": ["acetaminophen", "oxycodone"],
    "vicodin": ["acetaminophen", "hydrocodone"], "yaz": ["drospirenone", "ethinyl estradiol"],
    "levora": ["levonorgestrel", "ethinyl estradiol"], "seasonique": ["levonorgestrel", "ethinyl estradiol"],
    "trinessa": ["norgestimate", "ethinyl estradiol"], "zosyn": ["piperacillin", "tazobactam"],
}
# brand names added by hand (the NER dictionary lacks them or maps them elsewhere)
BRANDS = {
    "aspirin": ["bayer", "ecotrin", "bufferin"], "nitroglycerin": ["nitrostat", "nitro-dur"],
    "warfarin": ["coumadin", "jantoven"], "phenelzine": ["nardil"], "selegiline": ["eldepryl", "emsam"],
    "cephalexin": ["keflex"], "amoxicillin": ["amoxil"], "sertraline": ["zoloft"],
    "fluoxetine": ["prozac"], "clarithromycin": ["biaxin"], "simvastatin": ["zocor"],
    "sildenafil": ["viagra", "revatio"], "tadalafil": ["cialis"], "ibuprofen": ["advil", "motrin"],
    "naproxen": ["aleve", "naprosyn"], "metformin": ["glucophage"], "lisinopril": ["zestril", "prinivil"],
    "isosorbide mononitrate": ["imdur"], "oxycodone": ["oxycontin"], "acetaminophen": ["tylenol"],
}
SUBSTANCES = {"alcohol", "grapefruit", "smoking", "aged cheese", "red wine", "soy sauce", "milk",
              "dairy", "cranberry", "green tea", "kava", "soy", "garlic", "turmeric",
              "tyramine-rich food", "hepatotoxic drug", "glucosamine", "curcumin", "saw palmetto"}
# drugs the tests and the ONC list name, besides those of the MCP table and the Synthea sample
EXTRA_DRUGS = ["selegiline", "cephalexin", "phenoxymethylpenicillin", "sulfamethoxazole",
               "isosorbide mononitrate", "isosorbide dinitrate", "lovastatin", "itraconazole",
               "thioridazine", "tizanidine", "ramelteon", "fluvoxamine", "irinotecan",
               "methotrexate", "trimethoprim", "atazanavir", "ergotamine", "metformin",
               "lisinopril", "glipizide", "hydrochlorothiazide", "imipenem", "meropenem",
               "cefazolin", "ampicillin", "cefuroxime", "ceftriaxone", "furosemide", "celecoxib"]

# RxNorm ingredient codes (RXCUI, term type IN) of the drugs the tests name
RXNORM_INGREDIENTS = {
    "11289": "warfarin", "1191": "aspirin", "36567": "simvastatin", "21212": "clarithromycin",
    "136411": "sildenafil", "4917": "nitroglycerin", "36437": "sertraline", "4493": "fluoxetine",
    "8123": "phenelzine", "9639": "selegiline", "723": "amoxicillin", "2231": "cephalexin",
    "7984": "phenoxymethylpenicillin", "10180": "sulfamethoxazole", "5640": "ibuprofen",
    "7258": "naproxen", "6809": "metformin", "29046": "lisinopril",
}

SALTS = ["hydrochloride", "hydrocholoride", "sodium", "potassium", "calcium", "hyclate", "maleate",
         "besylate", "tartrate", "succinate", "mesylate", "citrate", "bitartrate", "phosphate",
         "sulfate", "acetate", "hydrobromide", "propionate", "fumarate", "bromide", "magnesium"]

# ------------------------------------------------------------------------------------------
# The ONC high-priority DDI list: Phansalkar S, Desai AA, Bell D, et al. High-priority drug-drug
# interactions for use in electronic health records. J Am Med Inform Assoc 2012;19(5):735-743,
# doi:10.1136/amiajnl-2011-000612 (Table 2). Encoded by hand from the published table; warfarin
# interactions are deliberately not part of that list.
# ------------------------------------------------------------------------------------------
ONC_SOURCE = ("ONC high-priority DDI list (Phansalkar et al., JAMIA 2012;19(5):735-743, "
              "doi:10.1136/amiajnl-2011-000612)")
ONC = [
    (["atazanavir"], ["proton pump inhibitors"],
     "Proton pump inhibitors markedly reduce atazanavir exposure.",
     "Atazanavir needs gastric acid for absorption.", "Avoid the combination."),
    (["ergot alkaloids"], ["strong cyp3a4 inhibitors"],
     "Ergotism: vasospasm and ischaemia of the limbs and other tissues.",
     "CYP3A4 inhibition raises ergot alkaloid concentrations.", "Do not use together."),
    (["irinotecan"], ["strong cyp3a4 inducers"],
     "Reduced exposure to irinotecan and its active metabolite SN-38.",
     "CYP3A4 induction increases irinotecan clearance.",
     "Substitute a non-inducing drug at least two weeks before irinotecan."),
    (["simvastatin", "lovastatin"], ["strong cyp3a4 inhibitors"],
     "Greatly increased statin exposure with risk of myopathy and rhabdomyolysis.",
     "Simvastatin and lovastatin are CYP3A4 substrates with extensive first-pass metabolism.",
     "Contraindicated: suspend the statin during the course or use pravastatin or rosuvastatin."),
    (["mao inhibitors"], ["serotonergic agents"],
     "Serotonin syndrome: hyperthermia, rigidity, autonomic instability, possibly fatal.",
     "Additive serotonergic effects with inhibited serotonin breakdown.",
     "Contraindicated; allow a washout of 14 days (5 weeks after fluoxetine)."),
    (["methotrexate"], ["trimethoprim"],
     "Methotrexate toxicity: bone-marrow suppression.",
     "Trimethoprim adds antifolate effect and reduces methotrexate renal clearance.",
     "Avoid the combination; use another antibiotic."),
    (["pde5 inhibitors"], ["nitrates"],
     "Severe, potentially fatal hypotension.",
     "Additive cGMP-mediated vasodilation.",
     "Contraindicated; do not give a nitrate within 24 h of sildenafil or vardenafil "
     "(48 h of tadalafil)."),
    (["qt-prolonging agents"], ["qt-prolonging agents"],
     "Additive QT prolongation with risk of torsades de pointes.",
     "Additive blockade of cardiac potassium channels (IKr).", "Avoid the combination."),
    (["thioridazine"], ["qt-prolonging agents", "fluvoxamine", "fluoxetine", "paroxetine"],
     "QT prolongation and torsades de pointes.",
     "Additive QT effect, or CYP2D6/CYP1A2 inhibition raising thioridazine levels.",
     "Contraindicated."),
    (["tizanidine"], ["cyp1a2 inhibitors"],
     "Marked hypotension and sedation.",
     "CYP1A2 inhibition increases tizanidine exposure many-fold.", "Contraindicated."),
    (["ramelteon"], ["fluvoxamine"],
     "Ramelteon exposure increased about 190-fold.",
     "Fluvoxamine inhibits CYP1A2, ramelteon's main route.", "Do not use together."),
]

# ------------------------------------------------------------------------------------------
# Allergy cross-reactivity rules: an allergy to `allergen` (drug or class) flags a proposed drug
# in `target`. Same drug and same allergy group are decided in code (contraindicated, serious).
# ------------------------------------------------------------------------------------------
ALLERGY_RULES = [
    dict(allergen="penicillins", target="cephalosporins", severity="moderate",
         evidence="cross-reactive class (cross-reactivity ~1-2%, higher with first-generation "
                  "cephalosporins such as cefalexin)",
         source="Khan DA et al. Drug allergy: a 2022 practice parameter update. "
                "J Allergy Clin Immunol 2022;150(6):1333-1393"),
    dict(allergen="penicillins", target="aminocephalosporins", severity="serious",
         evidence="cross-reactive class (cross-reactivity ~1-2%, higher with first-generation "
                  "cephalosporins such as cefalexin that share the amoxicillin/ampicillin R1 side chain)",
         source="Khan DA et al. Drug allergy: a 2022 practice parameter update. "
                "J Allergy Clin Immunol 2022;150(6):1333-1393"),
    dict(allergen="penicillins", target="carbapenems", severity="minor",
         evidence="cross-reactive class (<1% cross-reactivity with carbapenems)",
         source="Khan DA et al. Drug allergy: a 2022 practice parameter update. "
                "J Allergy Clin Immunol 2022;150(6):1333-1393"),
    dict(allergen="sulfonamide antibiotics", target="sulfonylureas", severity="minor",
         evidence="low: no convincing immunological cross-reactivity between sulfonamide "
                  "antibiotics and non-antibiotic sulfonamides",
         source="Strom BL et al. Absence of cross-reactivity between sulfonamide antibiotics and "
                "sulfonamide nonantibiotics. N Engl J Med 2003;349:1628-1635"),
    dict(allergen="sulfonamide antibiotics", target="thiazides", severity="minor",
         evidence="low: no convincing immunological cross-reactivity between sulfonamide "
                  "antibiotics and non-antibiotic sulfonamides",
         source="Strom BL et al. N Engl J Med 2003;349:1628-1635"),
    dict(allergen="sulfonamide antibiotics", target="loop diuretics", severity="minor",
         evidence="low: no convincing immunological cross-reactivity between sulfonamide "
                  "antibiotics and non-antibiotic sulfonamides",
         source="Strom BL et al. N Engl J Med 2003;349:1628-1635"),
    dict(allergen="nsaids", target="nsaids", severity="serious",
         evidence="cross-reactive class (aspirin-exacerbated respiratory disease / "
                  "cross-reactive COX-1 inhibition)",
         source="Kowalski ML et al. Classification and practical approach to the diagnosis and "
                "management of hypersensitivity to NSAIDs. Allergy 2013;68:1219-1232"),
]


def norm(s):
    return re.sub(r"\s+", " ", s.strip().lower())


def fetch_wheels(target):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", target,
                    "drug-interaction-mcp", "drug-named-entity-recognition"], check=True)


def unpack(wheels):
    """Unpack any wheel in `wheels`; return the directory holding both packages."""
    for whl in glob.glob(os.path.join(wheels, "*.whl")):
        name = os.path.basename(whl).split("-")[0]
        dest = os.path.join(wheels, name)
        if not os.path.isdir(dest):
            zipfile.ZipFile(whl).extractall(dest)
    return wheels


def find(wheels, pattern):
    hits = glob.glob(os.path.join(wheels, "**", pattern), recursive=True)
    if not hits:
        sys.exit(f"regen: {pattern} not found under {wheels}")
    return hits[0]


class Data:
    def __init__(self, ner):
        self.v2c = ner["drug_variant_to_canonical"]
        self.c2d = ner["drug_canonical_to_data"]
        self.vdata = ner["drug_variant_to_variant_data"]
        self.class_of_synonym = {norm(s): k for k, c in CLASSES.items() for s in c["synonyms"] + [k]}
        self.drugs = {}  # canonical -> entry
        self.products = {}  # brand/synonym -> [canonical]

    def canonical(self, term):
        """A term of a rule: ('class', key) | ('drug', name) | ('product', [names])."""
        t = norm(term)
        if t in self.class_of_synonym:
            return ("class", self.class_of_synonym[t])
        if t in PRODUCTS:
            return ("product", PRODUCTS[t])
        if t in CANONICAL:
            return ("drug", CANONICAL[t])
        got = self.v2c.get(t)
        if got and len(got) == 1:
            c = CANONICAL.get(got[0], got[0])
            if "/" in c:
                return ("product", [CANONICAL.get(p.strip(), p.strip()) for p in c.split("/")])
            return ("drug", c)
        return ("drug", t)

    def add_drug(self, name, alias=None):
        d = self.drugs.get(name)
        if d is None:
            data = self.c2d.get(name) or {}
            display = data.get("name") or name.title()
            d = dict(name=name, display=display, synonyms=[], brands=[],
                     mesh=sorted(data.get("mesh_tree") or []), drugbank=data.get("drugbank_id"),
                     substance=name in SUBSTANCES)
            self.drugs[name] = d
            for b in BRANDS.get(name, []):
                self.add_alias(name, b, True)
        if alias and norm(alias) != name:
            a = norm(alias)
            vd = self.vdata.get(a)
            is_brand = vd["is_brand"] if vd and "is_brand" in vd else (
                a in self.v2c and self.v2c[a] != [a] and a not in CANONICAL)
            self.add_alias(name, a, is_brand)
        return d

    def add_alias(self, name, alias, is_brand):
        d = self.drugs[name]
        if alias in self.class_of_synonym or alias in PRODUCTS:
            return
        bucket = d["brands"] if is_brand else d["synonyms"]
        if alias not in d["brands"] and alias not in d["synonyms"]:
            bucket.append(alias)

    def term_keys(self, terms):
        keys = []
        for term in terms:
            kind, val = self.canonical(term)
            names = val if kind == "product" else [val]
            if kind == "product":
                self.products.setdefault(norm(term), val)
            for n in names:
                if kind == "class":
                    pass
                else:
                    self.add_drug(n, term if kind == "drug" else None)
                if n not in keys:
                    keys.append(n)
        return keys


def severity_of(level, text):
    t = text.lower()
    if level == "danger":
        if ("contraindicated" in t and "not contraindicated" not in t) or "do not use" in t \
                or "do not combine" in t or "never combine" in t \
                or re.search(r"avoid (the )?combination(?! unless)", t):
            return "contraindicated"
        return "serious"
    return {"warning": "moderate", "caution": "minor"}[level]


def ingredients_of_display(display):
    """Ingredient names of an RxNorm display string (clinical drug or branded drug)."""
    text = re.sub(r"\[[^\]]*\]", "", display).replace("Vitamin B 12", "Vitamin B12")
    names = []
    for part in text.split(" / "):
        words = part.split()
        # leading quantity / duration / NDA prefixes: "24 HR", "0.3 ML", "Abuse-Deterrent", "NDA020800"
        while words and (re.match(r"^[\d.]+$", words[0]) or words[0] in ("HR", "ML", "ACTUAT", "Abuse-Deterrent")
                         or re.match(r"^NDA\d+$", words[0]) or re.match(r"^\d+hr$", words[0])):
            words.pop(0)
        name = []
        for w in words:
            if re.match(r"^[\d.]+", w) or w in ("Oral", "Injectable", "Injection", "Prefilled", "Topical",
                                                  "Chewable", "Extended", "Transdermal", "Metered",
                                                  "Inhalation", "Dry", "Sublingual", "Mucosal", "Drug",
                                                  "Intrauterine", "Auto-Injector", "patch", "transdermal"):
                break
            name.append(w)
        n = norm(" ".join(name)).replace("(usp)", "").strip()
        n = CANONICAL.get(n, n)
        words = n.split()
        while len(words) > 1 and words[-1] in SALTS:
            words.pop()
        n = " ".join(words)
        n = CANONICAL.get(n, n)
        for m in ner_ingredients(n):
            if m and m not in names:
                names.append(m)
    return names


NER = {}


def ner_ingredients(name):
    """A pack or brand name the NER dictionary maps to its ingredients ("yaz" -> two)."""
    if name in PRODUCTS:
        return PRODUCTS[name]
    got = NER.get("v2c", {}).get(name)
    if got and len(got) == 1 and got[0] != name and name not in CLASSES:
        return [CANONICAL.get(p.strip(), p.strip()) for p in CANONICAL.get(got[0], got[0]).split("/")]
    return [name]


def load_synthea(directory):
    codes = {}
    for f in sorted(glob.glob(os.path.join(directory, "*.json*"))):
        opener = bz2.open if f.endswith(".bz2") else open
        with opener(f, "rt") as fh:
            bundle = json.load(fh)
        for entry in bundle.get("entry", []):
            r = entry.get("resource", {})
            if r.get("resourceType") not in ("MedicationRequest", "MedicationStatement", "Medication"):
                continue
            cc = r.get("medicationCodeableConcept") or r.get("code") or {}
            for c in cc.get("coding", []):
                if c.get("system") == RXNORM and c.get("code") and c.get("display"):
                    codes[c["code"]] = c["display"]
    return codes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheels")
    ap.add_argument("--synthea", default="/work/shared/data/synthea")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels or tmp
        if not args.wheels:
            fetch_wheels(tmp)
        unpack(wheels)
        mcp_init = find(wheels, "drug_interaction_mcp/__init__.py")
        sys.path.insert(0, os.path.dirname(os.path.dirname(mcp_init)))
        interactions_mod = importlib.import_module("drug_interaction_mcp.interactions")
        with bz2.open(find(wheels, "drug_ner_dictionary.pkl.bz2")) as fh:
            ner = pickle.load(fh)
        licences = {
            "drug-interaction-mcp.LICENSE": find(wheels, "drug_interaction_mcp-*.dist-info/licenses/LICENSE"),
            "drug-named-entity-recognition.LICENSE":
                find(wheels, "drug_named_entity_recognition-*.dist-info/licenses/LICENSE"),
        }
        data = Data(ner)
        NER["v2c"] = data.v2c
        os.makedirs(os.path.join(OUT, "LICENSES"), exist_ok=True)
        for name, path in licences.items():
            with open(path) as src, open(os.path.join(OUT, "LICENSES", name), "w") as dst:
                dst.write(src.read())

        interactions = []
        for i, it in enumerate(interactions_mod.INTERACTIONS):
            text = f"{it.description} {it.recommendation}"
            interactions.append(dict(
                id=f"mcp-{i + 1}", a=data.term_keys(it.drug_a), b=data.term_keys(it.drug_b),
                severity=severity_of(it.severity.value, text), summary=it.description,
                mechanism=it.mechanism, recommendation=it.recommendation,
                source=f"drug-interaction-mcp: {it.source}"))
        onc = []
        for i, (a, b, summary, mechanism, recommendation) in enumerate(ONC):
            onc.append(dict(id=f"onc-{i + 1}", a=data.term_keys(a), b=data.term_keys(b),
                            severity="contraindicated", summary=summary, mechanism=mechanism,
                            recommendation=recommendation, source=ONC_SOURCE))
        for cls in CLASSES.values():
            for m in cls.get("members", []):
                data.add_drug(m)
        for name in EXTRA_DRUGS + [n for p in PRODUCTS.values() for n in p]:
            data.add_drug(name)
        for name in RXNORM_INGREDIENTS.values():
            data.add_drug(name)
        for alias, target in CANONICAL.items():
            if target in data.drugs and alias not in data.class_of_synonym:
                data.add_drug(target, alias)

        rxnorm = {}
        for code, display in sorted(load_synthea(args.synthea).items(), key=lambda kv: int(kv[0])):
            names = ingredients_of_display(display)
            for n in names:
                data.add_drug(n)
            rxnorm[code] = dict(display=display, ingredients=names)
        for code, name in RXNORM_INGREDIENTS.items():
            rxnorm[code] = dict(display=data.drugs[name]["display"], ingredients=[name])

        # NER brand names of every drug kept (short common words left out: they would match prose)
        brands_of = {}
        for variant, canon in data.v2c.items():
            if len(canon) == 1 and (data.vdata.get(variant) or {}).get("is_brand"):
                c = CANONICAL.get(canon[0], canon[0])
                if c in data.drugs and re.fullmatch(r"[a-z][a-z-]{4,}", variant) and variant != c:
                    brands_of.setdefault(c, []).append(variant)
        for c, brands in brands_of.items():
            for b in sorted(brands)[:8]:
                data.add_alias(c, b, True)

        # classes: MeSH tree prefixes + hand members, closed over parents
        def closure(keys):
            out, todo = [], list(keys)
            while todo:
                k = todo.pop()
                if k not in out:
                    out.append(k)
                    todo.extend(CLASSES[k].get("parents", []))
            return sorted(out)

        for d in data.drugs.values():
            direct = [k for k, c in CLASSES.items()
                      if d["name"] in c.get("members", [])
                      or any(t.startswith(p + ".") for t in d["mesh"] for p in c.get("mesh", []))]
            d["classes"] = closure(direct)
            used = {p for k in d["classes"] for p in CLASSES[k].get("mesh", [])}
            d["mesh"] = sorted({p for p in used if any(t.startswith(p + ".") for t in d["mesh"])})
            d["synonyms"].sort()
            d["brands"].sort()
            if d["drugbank"] is None:
                del d["drugbank"]
            if not d["substance"]:
                del d["substance"]
            if not d["mesh"]:
                del d["mesh"]

        classes = []
        for k, c in CLASSES.items():
            entry = dict(name=k, display=c["display"], parents=closure(c.get("parents", [])),
                         synonyms=sorted(set(norm(s) for s in c["synonyms"]) - {k}))
            if c.get("mesh"):
                entry["mesh"] = c["mesh"]
            if c.get("allergy_group"):
                entry["allergy_group"] = True
            classes.append(entry)

        drugs = dict(
            classes=classes,
            drugs=[data.drugs[k] for k in sorted(data.drugs)],
            products=[dict(name=k, ingredients=v) for k, v in sorted({**PRODUCTS, **data.products}.items())],
        )
        write("drugs.json", drugs)
        write("interactions.json", interactions)
        write("onc_high_priority.json", onc)
        write("allergy_rules.json", ALLERGY_RULES)
        write("rxnorm.json", rxnorm)
        for p in PRODUCTS.values():
            for n in p:
                assert n in data.drugs, n


def write(name, value):
    with open(os.path.join(OUT, name), "w") as fh:
        json.dump(value, fh, indent=1, ensure_ascii=False, sort_keys=False)
        fh.write("\n")
    print(f"regen: wrote {name} ({os.path.getsize(os.path.join(OUT, name))} bytes)")


if __name__ == "__main__":
    main()
