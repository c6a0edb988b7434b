//! windows-security: Security-log events (4624, 4625, 4688, ...) as JSON.

use super::*;

/// Well-known and domain security identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sid {
    Null,
    System,
    LocalService,
    NetworkService,
    /// A CORP domain account, by RID.
    Domain(u32),
}

impl Sid {
    pub(super) fn put<B: Buf>(self, out: &mut B) {
        match self {
            Sid::Null => out.put("S-1-0-0"),
            Sid::System => out.put("S-1-5-18"),
            Sid::LocalService => out.put("S-1-5-19"),
            Sid::NetworkService => out.put("S-1-5-20"),
            Sid::Domain(rid) => {
                out.put(DOMAIN_SID);
                out.put_byte(b'-');
                put_u64(out, u64::from(rid));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub name: &'static str,
    pub domain: &'static str,
    pub sid: Sid,
    pub logon_id: u64,
}

pub(super) const NULL_ACCOUNT: Account = Account {
    name: "-",
    domain: "-",
    sid: Sid::Null,
    logon_id: 0,
};
pub(super) const SYSTEM_ACCOUNT: Account = Account {
    name: "SYSTEM",
    domain: "NT AUTHORITY",
    sid: Sid::System,
    logon_id: 0x3e7,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessInfo {
    pub new_process_name: &'static str,
    pub command_line: &'static str,
    pub parent_process_name: &'static str,
    pub new_process_id: u32,
    pub process_id: u32,
    /// "%%1936" full token (SYSTEM), "%%1938" limited (a user's UAC-filtered token).
    pub token_elevation_type: &'static str,
    pub mandatory_label: &'static str,
}

/// One Security-log record; which members matter depends on `event_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct WinFields {
    pub event_id: u16,
    pub record_id: u64,
    pub computer: &'static str,
    pub subject: Account,
    pub target: Account,
    pub logon_type: Option<u8>,
    pub logon_process: &'static str,
    pub auth_package: &'static str,
    pub workstation: &'static str,
    /// `None` is Windows' "-".
    pub ip: Option<Ipv4Addr>,
    pub port: Option<u16>,
    pub status: u32,
    pub sub_status: u32,
    pub failure_reason: &'static str,
    pub elevated: bool,
    pub process: Option<ProcessInfo>,
    pub privileges: &'static str,
}

impl WinFields {
    pub(super) fn base(event_id: u16, computer: &'static str) -> Self {
        WinFields {
            event_id,
            record_id: 0,
            computer,
            subject: NULL_ACCOUNT,
            target: NULL_ACCOUNT,
            logon_type: None,
            logon_process: "-",
            auth_package: "-",
            workstation: "-",
            ip: None,
            port: None,
            status: 0,
            sub_status: 0,
            failure_reason: "-",
            elevated: false,
            process: None,
            privileges: "-",
        }
    }

    pub(super) fn success(&self) -> bool {
        self.event_id != 4625
    }

    pub(in crate::lab::noise) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.uint("event_id", u64::from(self.event_id));
        o.uint("record_id", self.record_id);
        o.str("computer", self.computer);
        o.str(
            "outcome",
            if self.success() { "success" } else { "failure" },
        );
        let (user, domain, logon_id) = match self.event_id {
            4672 | 4688 => (
                self.subject.name,
                self.subject.domain,
                self.subject.logon_id,
            ),
            _ => (self.target.name, self.target.domain, self.target.logon_id),
        };
        o.str("user", user);
        o.str("domain", domain);
        if self.event_id != 4625 {
            o.hex("logon_id", logon_id);
        }
        if let Some(t) = self.logon_type {
            o.uint("logon_type", u64::from(t));
        }
        if matches!(self.event_id, 4624 | 4625) {
            if let Some(ip) = self.ip {
                o.ip("src_ip", ip);
            }
            if let Some(p) = self.port {
                o.uint("src_port", u64::from(p));
            }
            o.str("workstation", self.workstation);
            o.str("auth_package", self.auth_package);
        }
        if self.event_id == 4625 {
            o.hex("status", u64::from(self.status));
            o.hex("sub_status", u64::from(self.sub_status));
        }
        if let Some(p) = &self.process {
            o.str("process", p.new_process_name);
            o.hex("process_id", u64::from(p.new_process_id));
            o.str("command_line", p.command_line);
            o.str("parent_process", p.parent_process_name);
        }
    }

    pub(super) fn put_account<B: Buf>(o: &mut JsonObj<'_, B>, prefix: Who, a: &Account) {
        let (sid, name, domain, id) = match prefix {
            Who::Subject => (
                "SubjectUserSid",
                "SubjectUserName",
                "SubjectDomainName",
                "SubjectLogonId",
            ),
            Who::Target => (
                "TargetUserSid",
                "TargetUserName",
                "TargetDomainName",
                "TargetLogonId",
            ),
        };
        o.key(sid);
        o.out.put_byte(b'"');
        a.sid.put(o.out);
        o.out.put_byte(b'"');
        o.str(name, a.name);
        o.str(domain, a.domain);
        o.hex(id, a.logon_id);
    }

    pub(super) fn put_ip_port<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        match self.ip {
            Some(ip) => o.ip("IpAddress", ip),
            None => o.str("IpAddress", "-"),
        }
        o.key("IpPort");
        o.out.put_byte(b'"');
        match self.port {
            Some(p) => put_u64(o.out, u64::from(p)),
            None => o.out.put_byte(b'-'),
        }
        o.out.put_byte(b'"');
    }

    /// The record the way Windows event forwarders (NXLog, Winlogbeat's raw mode) flatten it:
    /// System properties first, then EventData under its original names.
    pub(super) fn render<B: Buf>(&self, ts: &DateTime<Utc>, out: &mut B) {
        let mut o = JsonObj::open(out);
        o.uint("EventID", u64::from(self.event_id));
        o.key("TimeCreated");
        o.out.put_byte(b'"');
        put_rfc3339_ms(o.out, ts);
        o.out.put_byte(b'"');
        o.str("Computer", self.computer);
        o.str("Channel", "Security");
        o.str("ProviderName", "Microsoft-Windows-Security-Auditing");
        let task = match self.event_id {
            4634 => 12545,
            4672 => 12548,
            4688 => 13312,
            _ => 12544,
        };
        o.uint("Task", task);
        o.str(
            "Keywords",
            if self.success() {
                "Audit Success"
            } else {
                "Audit Failure"
            },
        );
        o.uint("EventRecordID", self.record_id);
        match self.event_id {
            4624 => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                Self::put_account(&mut o, Who::Target, &self.target);
                o.uint("LogonType", u64::from(self.logon_type.unwrap_or(3)));
                o.str("LogonProcessName", self.logon_process);
                o.str("AuthenticationPackageName", self.auth_package);
                o.str("WorkstationName", self.workstation);
                self.put_ip_port(&mut o);
                o.str("ImpersonationLevel", "%%1833");
                o.str(
                    "ElevatedToken",
                    if self.elevated { "%%1842" } else { "%%1843" },
                );
            }
            4625 => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                o.str("TargetUserSid", "S-1-0-0");
                o.str("TargetUserName", self.target.name);
                o.str("TargetDomainName", self.target.domain);
                o.hex("Status", u64::from(self.status));
                o.str("FailureReason", self.failure_reason);
                o.hex("SubStatus", u64::from(self.sub_status));
                o.uint("LogonType", u64::from(self.logon_type.unwrap_or(3)));
                o.str("LogonProcessName", self.logon_process);
                o.str("AuthenticationPackageName", self.auth_package);
                o.str("WorkstationName", self.workstation);
                self.put_ip_port(&mut o);
            }
            4634 => {
                Self::put_account(&mut o, Who::Target, &self.target);
                o.uint("LogonType", u64::from(self.logon_type.unwrap_or(3)));
            }
            4672 => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                o.str("PrivilegeList", self.privileges);
            }
            _ => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                if let Some(p) = &self.process {
                    o.hex("NewProcessId", u64::from(p.new_process_id));
                    o.str("NewProcessName", p.new_process_name);
                    o.str("TokenElevationType", p.token_elevation_type);
                    o.hex("ProcessId", u64::from(p.process_id));
                    o.str("CommandLine", p.command_line);
                    Self::put_account(&mut o, Who::Target, &NULL_ACCOUNT);
                    o.str("ParentProcessName", p.parent_process_name);
                    o.str("MandatoryLabel", p.mandatory_label);
                }
            }
        }
        o.close();
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Who {
    Subject,
    Target,
}

pub(super) const USER_PROCESSES: Table<(&str, &str, &str), 13> = Table::new([
    (
        (
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id=12 --mojo-platform-channel-handle=4132 /prefetch:1"#,
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        ),
        30,
    ),
    (
        (
            r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
            r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle=2228 /prefetch:11"#,
            r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        ),
        14,
    ),
    (
        (
            r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
            r#""C:\Program Files\Microsoft Office\Root\Office16\OUTLOOK.EXE" "#,
            r"C:\Windows\explorer.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            r#""C:\Program Files\Microsoft Office\Root\Office16\WINWORD.EXE" /n"#,
            r"C:\Windows\explorer.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
            r#""C:\Program Files\Microsoft Office\Root\Office16\EXCEL.EXE" "#,
            r"C:\Windows\explorer.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Windows\System32\notepad.exe",
            r#""C:\Windows\system32\notepad.exe" "#,
            r"C:\Windows\explorer.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\RuntimeBroker.exe",
            r"C:\Windows\System32\RuntimeBroker.exe -Embedding",
            r"C:\Windows\System32\svchost.exe",
        ),
        8,
    ),
    (
        (
            r"C:\Windows\System32\backgroundTaskHost.exe",
            r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider"#,
            r"C:\Windows\System32\svchost.exe",
        ),
        5,
    ),
    (
        (
            r"C:\Windows\System32\taskhostw.exe",
            r"taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly",
            r"C:\Windows\System32\svchost.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Program Files\Microsoft OneDrive\OneDrive.exe",
            r#""C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background"#,
            r"C:\Windows\explorer.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe",
            r#""C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe" msteams:system-initiated"#,
            r"C:\Windows\explorer.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Windows\System32\SystemSettingsBroker.exe",
            r"C:\Windows\System32\SystemSettingsBroker.exe -Embedding",
            r"C:\Windows\System32\svchost.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\explorer.exe",
            r"C:\Windows\Explorer.EXE",
            r"C:\Windows\System32\userinit.exe",
        ),
        1,
    ),
]);

pub(super) const SYSTEM_PROCESSES: Table<(&str, &str, &str), 10> = Table::new([
    (
        (
            r"C:\Windows\System32\svchost.exe",
            r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
            r"C:\Windows\System32\services.exe",
        ),
        10,
    ),
    (
        (
            r"C:\Windows\System32\svchost.exe",
            r"C:\Windows\System32\svchost.exe -k wsappx -p -s ClipSVC",
            r"C:\Windows\System32\services.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Windows\System32\wbem\WmiPrvSE.exe",
            r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
            r"C:\Windows\System32\svchost.exe",
        ),
        8,
    ),
    (
        (
            r"C:\Windows\System32\SearchProtocolHost.exe",
            r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe5_ Global\UsGthrCtrlFltPipeMssGthrPipe5 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon" "#,
            r"C:\Windows\System32\SearchIndexer.exe",
        ),
        6,
    ),
    (
        (
            r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MpCmdRun.exe",
            r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges -DailyReboot"#,
            r"C:\Windows\System32\svchost.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\sppsvc.exe",
            r"C:\Windows\system32\sppsvc.exe",
            r"C:\Windows\System32\services.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\dllhost.exe",
            r"C:\Windows\system32\DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}",
            r"C:\Windows\System32\svchost.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Windows\System32\taskhostw.exe",
            r"taskhostw.exe",
            r"C:\Windows\System32\svchost.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Windows\System32\usoclient.exe",
            r"C:\Windows\system32\usoclient.exe StartScan",
            r"C:\Windows\System32\svchost.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\conhost.exe",
            r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
            r"C:\Windows\System32\sppsvc.exe",
        ),
        1,
    ),
]);

/// (Status, SubStatus, FailureReason) of 4625, mostly mistyped passwords.
pub(super) const LOGON_FAILURES: Table<(u32, u32, &str), 6> = Table::new([
    ((0xc000_006d, 0xc000_006a, "%%2313"), 72),
    ((0xc000_006d, 0xc000_0064, "%%2313"), 10),
    ((0xc000_0234, 0x0, "%%2307"), 6),
    ((0xc000_006e, 0xc000_0072, "%%2310"), 4),
    ((0xc000_006e, 0xc000_006f, "%%2311"), 3),
    ((0xc000_006e, 0xc000_0071, "%%2309"), 5),
]);

pub(super) const TYPO_USERS: Table<&str, 5> = Table::new([
    ("jsmtih", 3),
    ("a.patel", 2),
    ("mgarica", 2),
    ("administrator", 1),
    ("lchen2", 1),
]);

pub(super) const ADMIN_PRIVILEGES: &str = "SeSecurityPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\tSeRestorePrivilege\n\t\t\tSeTakeOwnershipPrivilege\n\t\t\tSeDebugPrivilege\n\t\t\tSeSystemEnvironmentPrivilege\n\t\t\tSeLoadDriverPrivilege\n\t\t\tSeImpersonatePrivilege\n\t\t\tSeDelegateSessionUserImpersonatePrivilege";
pub(super) const SYSTEM_PRIVILEGES: &str = "SeAssignPrimaryTokenPrivilege\n\t\t\tSeTcbPrivilege\n\t\t\tSeSecurityPrivilege\n\t\t\tSeTakeOwnershipPrivilege\n\t\t\tSeLoadDriverPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\tSeRestorePrivilege\n\t\t\tSeDebugPrivilege\n\t\t\tSeAuditPrivilege\n\t\t\tSeSystemEnvironmentPrivilege\n\t\t\tSeImpersonatePrivilege\n\t\t\tSeDelegateSessionUserImpersonatePrivilege";
pub(super) const BACKUP_PRIVILEGES: &str = "SeBackupPrivilege\n\t\t\tSeRestorePrivilege";

/// Separate admin accounts (name, owner's workstation, RID), as tiered AD setups have.
pub(super) const ADMINS: Table<(&str, usize, u32), 3> = Table::new([
    (("adm-jsmith", 0, 1201), 5),
    (("adm-apatel", 1, 1202), 3),
    (("adm-lchen", 3, 1203), 2),
]);

#[derive(Debug, Clone, Copy)]
pub(super) enum WinScenario {
    UserNetwork,
    MachineNetwork,
    Service,
    Interactive,
    Admin,
    Process,
    Failed,
}

pub(super) const WIN_SCENARIOS: Table<WinScenario, 7> = Table::new([
    (WinScenario::UserNetwork, 24),
    (WinScenario::MachineNetwork, 12),
    (WinScenario::Service, 10),
    (WinScenario::Interactive, 4),
    (WinScenario::Admin, 3),
    (WinScenario::Process, 40),
    (WinScenario::Failed, 5),
]);

/// Servers users reach over the network: FS01, the DCs (GPO/SYSVOL), APP01.
/// Interactive (2), unlock (7) and cached (11) logons at the desk.
pub(super) const INTERACTIVE_TYPES: Table<u8, 3> = Table::new([(2, 3), (7, 5), (11, 2)]);

pub(super) const NETWORK_TARGETS: Table<usize, 4> =
    Table::new([(2, 50), (0, 25), (1, 15), (3, 10)]);

#[derive(Debug, Clone, Copy)]
pub(super) struct WinHost {
    pub(super) fqdn: &'static str,
    pub(super) netbios: &'static str,
    pub(super) machine: &'static str,
}

pub(super) const WS_BASE: usize = WIN_SERVERS.len();

#[derive(Debug)]
pub(super) struct WinGen {
    pub(super) hosts: Vec<WinHost>,
    pub(super) records: Vec<u64>,
    pub(super) queue: Queue<Box<WinFields>>,
}

impl WinGen {
    pub(super) fn new(rng: &mut R) -> Self {
        let mut hosts = Vec::with_capacity(WS_BASE + PEOPLE.len());
        for (fqdn, netbios, machine, _) in WIN_SERVERS {
            hosts.push(WinHost {
                fqdn,
                netbios,
                machine,
            });
        }
        for w in 0..PEOPLE.len() {
            hosts.push(WinHost {
                fqdn: WS_FQDN[w],
                netbios: WS_NAME[w],
                machine: WS_MACHINE[w],
            });
        }
        // Each computer's log has been running for a while: start its record ids mid-stream.
        let records = hosts
            .iter()
            .map(|_| rng.between(100_000, 40_000_000))
            .collect();
        WinGen {
            hosts,
            records,
            queue: Queue::new(),
        }
    }

    pub(super) fn host(&self, h: usize) -> WinHost {
        self.hosts[h % self.hosts.len()]
    }

    pub(super) fn make(&mut self, rng: &mut R, i: u64, ts: &DateTime<Utc>) -> Made {
        let (h, mut f) = match self.queue.pop_due(i) {
            Some(p) => p,
            None => {
                self.scenario(rng, i);
                self.queue.pop_due(i).unwrap_or_else(|| {
                    let mut f = WinFields::base(4672, WIN_SERVERS[0].0);
                    f.subject = SYSTEM_ACCOUNT;
                    f.privileges = SYSTEM_PRIVILEGES;
                    (0, Box::new(f))
                })
            }
        };
        if let Some(r) = self.records.get_mut(h) {
            *r += 1;
            f.record_id = *r;
        }
        let mut message = String::with_capacity(900);
        f.render(ts, &mut message);
        Made {
            host: f.computer,
            app: "Microsoft-Windows-Security-Auditing",
            severity: if f.success() { 6 } else { 4 },
            message,
            fields: Fields::Windows(f),
        }
    }

    pub(super) fn logon_id(rng: &mut R) -> u64 {
        rng.between(0x10_0000, 0x7fff_ffff)
    }

    pub(super) fn person(p: usize, logon_id: u64) -> Account {
        Account {
            name: PEOPLE[p % PEOPLE.len()],
            domain: AD_DOMAIN,
            sid: Sid::Domain(1105 + p as u32),
            logon_id,
        }
    }

    pub(super) fn machine_subject(host: WinHost) -> Account {
        Account {
            name: host.machine,
            domain: AD_DOMAIN,
            sid: Sid::System,
            logon_id: 0x3e7,
        }
    }

    pub(super) fn push(&mut self, due: u64, h: usize, f: WinFields) {
        self.queue.push(due, h, Box::new(f));
    }

    /// 4624 then (optionally 4672 for privileged accounts) and a later 4634 for the same id.
    pub(super) fn logon(
        &mut self,
        due: u64,
        h: usize,
        f: WinFields,
        privileges: Option<&'static str>,
        logoff: u64,
    ) {
        let target = f.target;
        let logon_type = f.logon_type;
        let computer = f.computer;
        self.push(due, h, f);
        if let Some(list) = privileges {
            let mut p = WinFields::base(4672, computer);
            p.subject = target;
            p.privileges = list;
            self.push(due, h, p);
        }
        if logoff > 0 {
            let mut off = WinFields::base(4634, computer);
            off.target = target;
            off.logon_type = logon_type;
            self.push(due.saturating_add(logoff), h, off);
        }
    }

    pub(super) fn network_logon(&mut self, rng: &mut R, due: u64, p: usize, ntlm: bool) {
        let h = *rng.pick(&NETWORK_TARGETS);
        let server = self.host(h);
        let mut f = WinFields::base(4624, server.fqdn);
        f.target = Self::person(p, Self::logon_id(rng));
        f.logon_type = Some(3);
        f.ip = Some(ws_ip(p));
        if ntlm {
            f.logon_process = "NtLmSsp ";
            f.auth_package = "NTLM";
            f.workstation = WS_NAME[p % PEOPLE.len()];
            f.port = Some(0);
        } else {
            f.logon_process = "Kerberos";
            f.auth_package = "Kerberos";
            f.port = Some(rng.port_windows());
        }
        let logoff = rng.between(1, 60);
        self.logon(due, h, f, None, logoff);
    }

    pub(super) fn interactive_logon(&mut self, rng: &mut R, due: u64, p: usize) {
        let h = WS_BASE + p % PEOPLE.len();
        let host = self.host(h);
        let mut f = WinFields::base(4624, host.fqdn);
        f.subject = Self::machine_subject(host);
        f.target = Self::person(p, Self::logon_id(rng));
        f.logon_type = Some(*rng.pick(&INTERACTIVE_TYPES));
        f.logon_process = "User32 ";
        f.auth_package = "Negotiate";
        f.workstation = host.netbios;
        f.ip = Some(Ipv4Addr::LOCALHOST);
        f.port = Some(0);
        let logoff = rng.log_uniform(200, 20_000);
        self.logon(due, h, f, None, logoff);
    }

    pub(super) fn scenario(&mut self, rng: &mut R, i: u64) {
        match *rng.pick(&WIN_SCENARIOS) {
            WinScenario::UserNetwork => {
                let p = rng.skewed(PEOPLE.len());
                let ntlm = rng.chance(0.15);
                self.network_logon(rng, i, p, ntlm);
            }
            WinScenario::MachineNetwork => {
                let w = rng.index(PEOPLE.len());
                let h = rng.index(2);
                let dc = self.host(h);
                let mut f = WinFields::base(4624, dc.fqdn);
                f.target = Account {
                    name: WS_MACHINE[w],
                    domain: AD_DOMAIN,
                    sid: Sid::Domain(2101 + w as u32),
                    logon_id: Self::logon_id(rng),
                };
                f.logon_type = Some(3);
                f.logon_process = "Kerberos";
                f.auth_package = "Kerberos";
                f.ip = Some(ws_ip(w));
                f.port = Some(rng.port_windows());
                let logoff = rng.between(1, 8);
                self.logon(i, h, f, None, logoff);
            }
            WinScenario::Service => {
                let h = rng.index(self.hosts.len());
                let host = self.host(h);
                let mut f = WinFields::base(4624, host.fqdn);
                f.subject = Self::machine_subject(host);
                f.logon_type = Some(5);
                f.logon_process = "Advapi  ";
                f.auth_package = "Negotiate";
                f.elevated = true;
                let (privileges, logoff) = if h == 2 && rng.chance(0.3) {
                    f.target = Account {
                        name: "svc-backup",
                        domain: AD_DOMAIN,
                        sid: Sid::Domain(1301),
                        logon_id: Self::logon_id(rng),
                    };
                    (BACKUP_PRIVILEGES, rng.between(50, 2_000))
                } else {
                    let x = rng.unit();
                    f.target = if x < 0.8 {
                        SYSTEM_ACCOUNT
                    } else if x < 0.9 {
                        Account {
                            name: "LOCAL SERVICE",
                            domain: "NT AUTHORITY",
                            sid: Sid::LocalService,
                            logon_id: 0x3e5,
                        }
                    } else {
                        Account {
                            name: "NETWORK SERVICE",
                            domain: "NT AUTHORITY",
                            sid: Sid::NetworkService,
                            logon_id: 0x3e4,
                        }
                    };
                    (SYSTEM_PRIVILEGES, 0)
                };
                self.logon(i, h, f, Some(privileges), logoff);
            }
            WinScenario::Interactive => {
                let p = rng.index(PEOPLE.len());
                self.interactive_logon(rng, i, p);
            }
            WinScenario::Admin => {
                let (name, desk, rid) = *rng.pick(&ADMINS);
                let h = rng.index(WIN_SERVERS.len());
                let server = self.host(h);
                let rdp = rng.chance(0.4);
                let mut f = WinFields::base(4624, server.fqdn);
                f.target = Account {
                    name,
                    domain: AD_DOMAIN,
                    sid: Sid::Domain(rid),
                    logon_id: Self::logon_id(rng),
                };
                f.ip = Some(ws_ip(desk));
                f.elevated = true;
                if rdp {
                    f.subject = Self::machine_subject(server);
                    f.logon_type = Some(10);
                    f.logon_process = "User32 ";
                    f.auth_package = "Negotiate";
                    f.workstation = server.netbios;
                    f.port = Some(0);
                } else {
                    f.logon_type = Some(3);
                    f.logon_process = "Kerberos";
                    f.auth_package = "Kerberos";
                    f.port = Some(rng.port_windows());
                }
                let logoff = if rdp {
                    rng.log_uniform(300, 10_000)
                } else {
                    rng.between(1, 30)
                };
                self.logon(i, h, f, Some(ADMIN_PRIVILEGES), logoff);
            }
            WinScenario::Process => {
                let user_side = rng.chance(0.7);
                let (h, subject, (new, cmd, parent), elevation, label) = if user_side {
                    let p = rng.skewed(PEOPLE.len());
                    let subject = Self::person(p, Self::logon_id(rng));
                    let proc_ = *rng.pick(&USER_PROCESSES);
                    (WS_BASE + p, subject, proc_, "%%1938", "S-1-16-8192")
                } else {
                    let h = rng.index(self.hosts.len());
                    let subject = Self::machine_subject(self.host(h));
                    let proc_ = *rng.pick(&SYSTEM_PROCESSES);
                    (h, subject, proc_, "%%1936", "S-1-16-16384")
                };
                let host = self.host(h);
                let mut f = WinFields::base(4688, host.fqdn);
                f.subject = subject;
                f.process = Some(ProcessInfo {
                    new_process_name: new,
                    command_line: cmd,
                    parent_process_name: parent,
                    new_process_id: (rng.between(0x100, 0x7fff) as u32) * 4,
                    process_id: (rng.between(0x100, 0x7fff) as u32) * 4,
                    token_elevation_type: elevation,
                    mandatory_label: label,
                });
                self.push(i, h, f);
            }
            WinScenario::Failed => {
                let p = rng.skewed(PEOPLE.len());
                let (status, sub_status, reason) = *rng.pick(&LOGON_FAILURES);
                let name = if sub_status == 0xc000_0064 {
                    *rng.pick(&TYPO_USERS)
                } else {
                    PEOPLE[p]
                };
                let at_desk = rng.chance(0.6);
                let h = if at_desk {
                    WS_BASE + p
                } else {
                    *rng.pick(&NETWORK_TARGETS)
                };
                let host = self.host(h);
                let mut f = WinFields::base(4625, host.fqdn);
                f.target = Account {
                    name,
                    domain: AD_DOMAIN,
                    sid: Sid::Null,
                    logon_id: 0,
                };
                f.status = status;
                f.sub_status = sub_status;
                f.failure_reason = reason;
                if at_desk {
                    f.subject = Self::machine_subject(host);
                    f.logon_type = Some(2);
                    f.logon_process = "User32 ";
                    f.auth_package = "Negotiate";
                    f.workstation = host.netbios;
                    f.ip = Some(Ipv4Addr::LOCALHOST);
                    f.port = Some(0);
                } else {
                    f.logon_type = Some(3);
                    f.logon_process = "NtLmSsp ";
                    f.auth_package = "NTLM";
                    f.workstation = WS_NAME[p];
                    f.ip = Some(ws_ip(p));
                    f.port = Some(0);
                }
                self.push(i, h, f);
                // Mistyped passwords are usually followed by the right one.
                if sub_status == 0xc000_006a && rng.chance(0.8) {
                    let due = i.saturating_add(rng.between(1, 5));
                    if at_desk {
                        self.interactive_logon(rng, due, p);
                    } else {
                        self.network_logon(rng, due, p, true);
                    }
                }
            }
        }
    }
}
