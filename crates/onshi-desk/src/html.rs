//! The page shell of the desk's screens: inline CSS sized for a tablet, big buttons, the next
//! action highlighted, the share to charge shown large. No script, no front-end build.

use axum::response::Html;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The R-numbers of a rule list, shown small.
pub fn rules(ids: &[&str]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    format!(
        "<span class=\"rule\" title=\"onshi SPEC の規則番号\">根拠 {}</span>",
        esc(&ids.join(" "))
    )
}

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:"Noto Sans CJK JP","Hiragino Sans","Yu Gothic",sans-serif;font-size:18px;color:#1b1b1b;background:#f4f6f8;line-height:1.5}
header{background:#0b4f71;color:#fff;padding:10px 18px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header a{color:#fff}
header .fac{font-weight:bold;font-size:20px}
main{max-width:1100px;margin:0 auto;padding:14px}
h1{font-size:26px;margin:8px 0 12px}
h2{font-size:21px;margin:18px 0 8px;border-left:6px solid #0b4f71;padding-left:8px}
.panel{background:#fff;border:1px solid #c9d2da;border-radius:10px;padding:14px 16px;margin:10px 0}
.next{border:4px solid #e07b00;background:#fff8ec}
.next>.tag{display:inline-block;background:#e07b00;color:#fff;font-weight:bold;padding:2px 10px;border-radius:6px;margin-bottom:6px}
.share{background:#0b4f71;color:#fff;border-radius:12px;padding:14px 18px;margin:10px 0;display:flex;align-items:baseline;gap:18px;flex-wrap:wrap}
.share .big{font-size:56px;font-weight:bold;line-height:1}
.share.full{background:#b3261e}
.share.pending{background:#5f6b75}
.result{font-size:30px;font-weight:bold;padding:8px 14px;border-radius:8px;display:inline-block}
.ok{background:#d8f3dc;color:#14532d}.ng{background:#fde2e1;color:#8a1c14}.warn{background:#fff1c2;color:#6b4f00}
button,.button{font-size:20px;padding:14px 22px;border-radius:10px;border:2px solid #0b4f71;background:#fff;color:#0b4f71;cursor:pointer;min-height:56px;margin:6px 8px 6px 0;text-decoration:none;display:inline-block}
button.primary,.button.primary{background:#e07b00;border-color:#e07b00;color:#fff;font-weight:bold}
button.danger{border-color:#b3261e;color:#b3261e}
input[type=text],input[type=date],input[type=tel],input[type=password],input[type=number],select,textarea{font-size:20px;padding:10px;border:2px solid #8a99a6;border-radius:8px;min-height:50px;max-width:100%}
input[type=checkbox],input[type=radio]{width:28px;height:28px;vertical-align:middle}
label{display:inline-block;margin:6px 14px 6px 0}
.field{margin:10px 0}
.field>.name{display:block;font-weight:bold;margin-bottom:2px}
.hint{color:#4a5863;font-size:15px}
.rule{display:inline-block;font-size:13px;color:#5f6b75;border:1px solid #c9d2da;border-radius:4px;padding:0 5px;margin-left:6px}
.errors{background:#fde2e1;border:2px solid #b3261e;border-radius:8px;padding:10px 14px;color:#8a1c14}
.reminders{background:#fff1c2;border:2px solid #c99700;border-radius:8px;padding:10px 14px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #c9d2da;padding:6px 8px;text-align:left;font-size:16px;vertical-align:top}
th{background:#e8eef3}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:6px 0}
dl.kv dt{font-weight:bold;color:#3b4852}
dl.kv dd{margin:0}
details{margin:10px 0}
pre{white-space:pre-wrap;word-break:break-all;font-size:13px;background:#f0f3f6;padding:8px;border-radius:6px}
@media (max-width:700px){body{font-size:17px}.share .big{font-size:44px}}
"#;

/// A whole page.
pub fn page(title: &str, header_extra: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>{CSS}</style></head><body>\
         <header>{header_extra}<a href=\"/desk/\">受付一覧</a><a href=\"/desk/history\">資格確認履歴</a></header>\
         <main>{body}</main></body></html>",
        t = esc(title)
    ))
}
