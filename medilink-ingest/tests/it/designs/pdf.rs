//! A generated report as a text PDF (Helvetica, Helvetica-Bold, Courier and Courier-Bold,
//! WinAnsi encoding), and JPEG page images wrapped in a PDF (a scan without a text layer).

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

use super::Report;

/// WinAnsi bytes of `text` (Latin-1 for what WinAnsi shares with it, `?` otherwise).
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u32::from(c).try_into().unwrap_or(b'?'))
        .collect()
}

/// The report's text PDF.
pub(crate) fn write(report: &Report) -> Vec<u8> {
    let (width, height) = report.page_size;
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = |name: &str| {
        dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => name.to_owned(),
            "Encoding" => "WinAnsiEncoding",
        }
    };
    let regular = doc.add_object(font("Helvetica"));
    let bold = doc.add_object(font("Helvetica-Bold"));
    let mono = doc.add_object(font("Courier"));
    let mono_bold = doc.add_object(font("Courier-Bold"));
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => regular, "F2" => bold, "F3" => mono, "F4" => mono_bold },
    });
    let mut kids = Vec::new();
    for page in 0..report.pages {
        let mut operations = Vec::new();
        for item in report.items.iter().filter(|i| i.page == page) {
            operations.push(Operation::new("BT", vec![]));
            operations.push(Operation::new(
                "Tf",
                vec![
                    Object::Name(
                        match (item.mono, item.bold) {
                            (false, false) => b"F1",
                            (false, true) => b"F2",
                            (true, false) => b"F3",
                            (true, true) => b"F4",
                        }
                        .to_vec(),
                    ),
                    item.size.into(),
                ],
            ));
            operations.push(Operation::new(
                "Td",
                vec![item.x.into(), (height - item.y).into()],
            ));
            operations.push(Operation::new(
                "Tj",
                vec![Object::String(
                    win_ansi(&item.text),
                    lopdf::StringFormat::Literal,
                )],
            ));
            operations.push(Operation::new("ET", vec![]));
        }
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().expect("content stream"),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), width.into(), height.into()],
            "Contents" => content_id,
            "Resources" => resources,
        });
        kids.push(Object::Reference(page_id));
    }
    finish(doc, pages_id, kids)
}

fn finish(mut doc: Document, pages_id: lopdf::ObjectId, kids: Vec<Object>) -> Vec<u8> {
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("PDF written");
    out
}

/// A PDF of JPEG page images (`(jpeg, width px, height px)`), each filling a page of
/// `page_size` points, without a text layer.
pub(crate) fn scanned(pages: &[(Vec<u8>, u32, u32)], page_size: (f64, f64)) -> Vec<u8> {
    let (width, height) = page_size;
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for (jpeg, w, h) in pages {
        let image = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => i64::from(*w),
                "Height" => i64::from(*h),
                "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 8,
                "Filter" => "DCTDecode",
            },
            jpeg.clone(),
        ));
        let content = format!("q {width} 0 0 {height} 0 0 cm /Im0 Do Q");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), width.into(), height.into()],
            "Contents" => content_id,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image } },
        });
        kids.push(Object::Reference(page_id));
    }
    finish(doc, pages_id, kids)
}
