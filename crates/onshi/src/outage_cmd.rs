//! Administration of the system-outage mode (R13): call-centre operators and the facilities'
//! registered call-back numbers. Both are administrator tasks on the database file, never
//! offered over HTTP, so that nobody reachable from the network can change the number an
//! operator must call back.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use onshi_central::Clock;
use onshi_domain::numbers::MedicalInstitutionCode;

/// `onshi operator …`
#[derive(Subcommand)]
pub enum OperatorCmd {
    /// Register (or re-key) a call-centre operator; prints the new token once.
    Add {
        /// SQLite database file or PostgreSQL URL
        #[arg(long)]
        db: crate::db::Db,
        /// the operator's name, as recorded with every step they take
        #[arg(long)]
        name: String,
    },
}

/// `onshi facility phone …`: the phone number (and e-mail) registered for a facility
/// (保険医療機関届), the only number the R13 call-back is accepted on.
#[derive(Args)]
pub struct PhoneArgs {
    /// SQLite database file or PostgreSQL URL
    #[arg(long)]
    pub db: crate::db::Db,
    /// 10-digit 医療機関コード of a registered facility
    #[arg(long)]
    pub code: String,
    /// e.g. 03-1234-5678
    #[arg(long)]
    pub phone: String,
    /// where the usage-report form (利用報告書) is sent by default
    #[arg(long)]
    pub email: Option<String>,
}

fn now() -> String {
    onshi_central::SystemClock
        .now_jst()
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

pub fn run_operator(cmd: OperatorCmd) -> Result<()> {
    match cmd {
        OperatorCmd::Add { db, name } => {
            let name = name.trim();
            if name.is_empty() {
                return Err(anyhow!("--name: an operator name is required"));
            }
            let store = db.open()?;
            let mut b = [0u8; 24];
            getrandom::fill(&mut b).map_err(|e| anyhow!("no system randomness: {e}"))?;
            let token = format!("onshi_op_{}", hex::encode(b));
            store.upsert_operator(
                name,
                &onshi_web::outage::operator_token_hash(&token),
                &now(),
            )?;
            println!("{token}");
            Ok(())
        }
    }
}

pub fn run_phone(a: PhoneArgs) -> Result<()> {
    let code = MedicalInstitutionCode::parse(&a.code).map_err(|e| anyhow!("--code: {e}"))?;
    let phone = onshi_central::outage::phone_key(&a.phone).map_err(|e| anyhow!("--phone: {e}"))?;
    let email = a.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if let Some(e) = email
        && !(e.contains('@') && e.contains('.'))
    {
        return Err(anyhow!("--email: not an e-mail address: {e:?}"));
    }
    let store = a.db.open()?;
    store.set_facility_contact(&code, &phone, email, &now())?;
    println!("{} call-back number {phone}", code.as_str());
    Ok(())
}
