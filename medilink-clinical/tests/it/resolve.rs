//! Drug identity: RxNorm codes, brand names, Synthea display strings, search, odd input.

use medilink_clinical::{KnowledgeBase, MedicationInput};

fn names(input: &MedicationInput) -> Vec<String> {
    KnowledgeBase::offline()
        .resolve(input)
        .ingredients
        .into_iter()
        .map(|ingredient| ingredient.name)
        .collect()
}

#[test]
fn brands_and_codes_resolve_to_the_ingredient() {
    for (text, code, name) in [
        ("Coumadin 5mg", "11289", "warfarin"),
        ("Bayer", "1191", "aspirin"),
        ("Zocor", "36567", "simvastatin"),
        ("Biaxin XL", "21212", "clarithromycin"),
        ("Viagra", "136411", "sildenafil"),
        ("Nitrostat 0.4 mg", "4917", "nitroglycerin"),
        ("ZOLOFT 50 MG", "36437", "sertraline"),
        ("Nardil", "8123", "phenelzine"),
        ("Prozac", "4493", "fluoxetine"),
    ] {
        assert_eq!(names(&MedicationInput::text(text)), [name], "{text}");
        assert_eq!(names(&MedicationInput::rxnorm(code)), [name], "{code}");
    }
}

#[test]
fn the_code_wins_and_the_text_is_the_fallback() {
    let both = MedicationInput {
        system: Some("http://www.nlm.nih.gov/research/umls/rxnorm".to_owned()),
        code: Some("11289".to_owned()),
        text: Some("Aspirin".to_owned()),
    };
    assert_eq!(names(&both), ["warfarin"]);
    let unknown_code = MedicationInput {
        code: Some("999999999".to_owned()),
        ..both.clone()
    };
    assert_eq!(names(&unknown_code), ["aspirin"]);
    let resolved = KnowledgeBase::offline().resolve(&both);
    assert_eq!(resolved.rxnorm.as_deref(), Some("11289"));
    assert_eq!(resolved.input, "Aspirin");
}

#[test]
fn synthea_display_strings_resolve() {
    // ten real RxNorm display strings of the Synthea sample bundles
    for (display, expected) in [
        ("Amoxicillin 250 MG Oral Capsule", &["amoxicillin"][..]),
        (
            "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
            &["metformin"],
        ),
        (
            "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
            &["acetaminophen", "oxycodone"],
        ),
        ("Warfarin Sodium 5 MG Oral Tablet", &["warfarin"]),
        (
            "Penicillin V Potassium 250 MG Oral Tablet",
            &["phenoxymethylpenicillin"],
        ),
        ("Naproxen sodium 220 MG Oral Tablet", &["naproxen"]),
        ("Simvastatin 20 MG Oral Tablet", &["simvastatin"]),
        (
            "Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray",
            &["nitroglycerin"],
        ),
        ("FLUoxetine 20 MG Oral Capsule", &["fluoxetine"]),
        (
            "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet",
            &["amoxicillin", "clavulanate"],
        ),
        (
            "24 HR Donepezil hydrochloride 10 MG / Memantine hydrochloride 28 MG Extended Release Oral Capsule",
            &["donepezil", "memantine"],
        ),
    ] {
        assert_eq!(
            names(&MedicationInput::text(display)),
            expected,
            "{display}"
        );
    }
}

#[test]
fn classes_come_from_mesh_and_the_hand_table() {
    let kb = KnowledgeBase::offline();
    let classes = |text: &str| {
        kb.resolve(&MedicationInput::text(text)).ingredients[0]
            .classes
            .clone()
    };
    assert!(classes("amoxicillin").contains(&"penicillins".to_owned()));
    assert!(classes("amoxicillin").contains(&"beta-lactams".to_owned()));
    assert!(classes("cefalexin").contains(&"cephalosporins".to_owned()));
    assert!(classes("cephalexin").contains(&"beta-lactams".to_owned()));
    assert!(classes("sulfamethoxazole").contains(&"sulfonamide antibiotics".to_owned()));
    assert!(classes("ibuprofen").contains(&"nsaids".to_owned()));
    assert!(classes("sertraline").contains(&"ssris".to_owned()));
    assert!(classes("sertraline").contains(&"serotonergic agents".to_owned()));
    assert!(classes("selegiline").contains(&"mao inhibitors".to_owned()));
    assert!(classes("isosorbide mononitrate").contains(&"nitrates".to_owned()));
    assert!(classes("tadalafil").contains(&"pde5 inhibitors".to_owned()));
    assert!(classes("itraconazole").contains(&"strong cyp3a4 inhibitors".to_owned()));
    assert!(classes("lovastatin").contains(&"statins".to_owned()));
    // a class named in text resolves to the class itself
    assert_eq!(
        names(&MedicationInput::text("Sulfa drugs")),
        ["sulfonamide antibiotics"]
    );
    assert_eq!(names(&MedicationInput::text("NSAID")), ["nsaids"]);
    assert_eq!(
        names(&MedicationInput::text("Allergy to penicillin")),
        ["penicillins"]
    );
}

#[test]
fn unknown_and_odd_input_never_panics() {
    let kb = KnowledgeBase::offline();
    let long = "a ".repeat(10_000);
    let odd = [
        "",
        " ",
        "\u{0}",
        "💊💊",
        "////",
        "- - -",
        "'",
        "...",
        "MG MG 5 5",
        &long,
        "ÀSPÏRÏN",
        "warfarin\u{200b}aspirin",
        "İstanbul",
        "ﬁ",
        "\u{feff}aspirin",
        "st. john's wort",
        "5-htp",
        "a/b/c",
        "[Percocet]",
        "0.25 ML",
    ];
    for text in odd {
        let resolved = kb.resolve(&MedicationInput::text(text));
        let _ = resolved.recognised();
        let _ = kb.search(text, 10);
        let _ = kb.resolve(&MedicationInput {
            system: Some(text.to_owned()),
            code: Some(text.to_owned()),
            text: None,
        });
    }
    assert!(!kb.resolve(&MedicationInput::default()).recognised());
    assert!(!kb.resolve(&MedicationInput::text("latex")).recognised());
}

#[test]
fn search_finds_brands_and_generics_by_prefix_first() {
    let kb = KnowledgeBase::offline();
    let hits = kb.search("war", 5);
    assert_eq!(
        hits.first().map(|hit| hit.generic.as_str()),
        Some("Warfarin")
    );
    let zoloft = kb.search("zolo", 5);
    assert!(
        zoloft
            .iter()
            .any(|hit| hit.brand && hit.generic == "Sertraline")
    );
    let inner = kb.search("statin", 20);
    assert!(inner.iter().any(|hit| hit.generic == "Simvastatin"));
    assert_eq!(kb.search("", 5), []);
    assert_eq!(kb.search("warfarin", 0), []);
    let summary = kb.search("warfarin", 1);
    assert_eq!(summary[0].rxnorm.as_deref(), Some("11289"));
}
