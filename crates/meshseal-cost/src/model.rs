//! The energy and battery model: radio, battery and crypto profiles from data files, link-layer
//! framing and fragmentation, airtime, energy per message and months of battery per scheme.
//!
//! Every figure comes from a profile (with its datasheet source) or a recorded measurement;
//! the code holds only the protocol structure (how frames are built, which flights a
//! handshake waits for, how many HMACs the DTLS 1.2 key schedule runs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::measure::{DtlsResult, HostCrypto, MeshsealRow, OscoreResult};

/// Link-layer framing of a radio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Data rate.
    pub bitrate_bps: f64,
    /// Bytes on air before the MAC frame (preamble, sync, PHY header).
    pub phy_overhead_bytes: usize,
    /// Largest MAC frame (header + payload + footer).
    pub max_frame_bytes: usize,
    /// MAC header.
    pub mac_header_bytes: usize,
    /// MAC footer (checksum).
    pub mac_footer_bytes: usize,
    /// Network/transport header carried in the first frame of every datagram.
    pub network_header_bytes: usize,
    /// Fragment header of the first fragment.
    pub frag_first_header_bytes: usize,
    /// Fragment header of the following fragments.
    pub frag_next_header_bytes: usize,
    /// Fragments carry multiples of this many bytes (except the last).
    pub frag_unit_bytes: usize,
    /// Bytes on air of an acknowledgement (0: none).
    pub ack_bytes: usize,
    /// Turnaround before an acknowledgement, µs.
    pub turnaround_us: f64,
    /// Carrier sense before each data frame, µs.
    pub cca_us: f64,
}

/// LoRa modem settings (airtime by the SX1276 datasheet's symbol formula).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lora {
    /// Spreading factor.
    pub spreading_factor: u32,
    /// Bandwidth, Hz.
    pub bandwidth_hz: f64,
    /// Coding rate index (1 = 4/5 … 4 = 4/8).
    pub coding_rate: u32,
    /// Preamble symbols.
    pub preamble_symbols: f64,
    /// Explicit header.
    pub explicit_header: bool,
    /// Payload CRC.
    pub crc: bool,
    /// Low data rate optimisation.
    pub low_data_rate_optimize: bool,
}

/// Power figures of the radio and its microcontroller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Power {
    /// Supply voltage.
    pub supply_v: f64,
    /// Transmit current, mA.
    pub tx_ma: f64,
    /// Receive current, mA.
    pub rx_ma: f64,
    /// MCU active current (crypto), mA.
    pub cpu_ma: f64,
    /// Sleep current, µA.
    pub sleep_ua: f64,
    /// Wake-up time per message, µs.
    pub wakeup_us: f64,
    /// Current during wake-up, mA.
    pub wakeup_ma: f64,
    /// Radio-on wait for each response flight of a handshake, ms.
    pub flight_wait_ms: f64,
}

/// A radio profile (`data/radios/*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Radio {
    /// Short name.
    pub name: String,
    /// Description.
    pub title: String,
    /// Framing.
    pub link: Link,
    /// LoRa modem, for LoRa radios.
    #[serde(default)]
    pub lora: Option<Lora>,
    /// Currents.
    pub power: Power,
    /// Where the figures come from.
    pub sources: BTreeMap<String, String>,
}

/// A battery profile (`data/batteries/*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Battery {
    /// Short name.
    pub name: String,
    /// Description.
    pub title: String,
    /// Rated capacity, mAh.
    pub capacity_mah: f64,
    /// Nominal voltage.
    pub nominal_v: f64,
    /// Share of the rated capacity usable under the device's load.
    pub usable_fraction: f64,
    /// Capacity lost per year by self-discharge (fraction).
    pub self_discharge_per_year: f64,
    /// Where the figures come from.
    pub sources: BTreeMap<String, String>,
}

/// Target of the crypto timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CryptoTarget {
    /// Description.
    pub name: String,
    /// Host time × this = target time.
    pub host_to_target: f64,
}

/// Crypto timing (`data/crypto.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crypto {
    /// Where the host figures come from.
    pub source: String,
    /// (payload, ns) of seal on the host.
    pub seal_ns: Vec<(usize, f64)>,
    /// (payload, ns) of open on the host.
    pub open_ns: Vec<(usize, f64)>,
    /// The device.
    pub target: CryptoTarget,
}

/// Linear interpolation (and extrapolation from the last two points) of `(x, y)` points.
pub fn interpolate(points: &[(usize, f64)], x: usize) -> f64 {
    match points {
        [] => 0.0,
        [(_, y)] => *y,
        _ => {
            let i = points
                .windows(2)
                .position(|w| x <= w[1].0)
                .unwrap_or(points.len() - 2);
            let ((x0, y0), (x1, y1)) = (points[i], points[i + 1]);
            if x1 == x0 {
                return y0;
            }
            y0 + (y1 - y0) * (x as f64 - x0 as f64) / (x1 as f64 - x0 as f64)
        }
    }
}

impl Radio {
    /// MAC frames (header + payload + footer) that carry one datagram of `len` bytes,
    /// fragmented when the datagram and the network header do not fit one frame.
    pub fn frames(&self, len: usize) -> Vec<usize> {
        let l = &self.link;
        let mac = l.mac_header_bytes + l.mac_footer_bytes;
        let cap = l.max_frame_bytes.saturating_sub(mac);
        let whole = l.network_header_bytes + len;
        if whole <= cap {
            return vec![mac + whole];
        }
        let unit = l.frag_unit_bytes.max(1);
        let first = (cap.saturating_sub(l.frag_first_header_bytes) / unit) * unit;
        let next = (cap.saturating_sub(l.frag_next_header_bytes) / unit) * unit;
        if first == 0 || next == 0 {
            return Vec::new();
        }
        let mut out = vec![mac + l.frag_first_header_bytes + first];
        let mut left = whole - first;
        while left > 0 {
            let n = left.min(next);
            out.push(mac + l.frag_next_header_bytes + n);
            left -= n;
        }
        out
    }

    /// Airtime of one MAC frame of `mpdu` bytes, µs.
    pub fn airtime_us(&self, mpdu: usize) -> f64 {
        match &self.lora {
            Some(m) => {
                // SX1276 datasheet §4.1.1.7: symbol time, preamble, payload symbols.
                let sf = f64::from(m.spreading_factor);
                let t_sym = 2f64.powf(sf) / m.bandwidth_hz * 1e6;
                let t_pre = (m.preamble_symbols + 4.25) * t_sym;
                let ih = if m.explicit_header { 0.0 } else { 1.0 };
                let crc = if m.crc { 1.0 } else { 0.0 };
                let de = if m.low_data_rate_optimize { 1.0 } else { 0.0 };
                let num = 8.0 * mpdu as f64 - 4.0 * sf + 28.0 + 16.0 * crc - 20.0 * ih;
                let den = 4.0 * (sf - 2.0 * de);
                let n = 8.0 + ((num / den).ceil() * (f64::from(m.coding_rate) + 4.0)).max(0.0);
                t_pre + n * t_sym
            }
            None => {
                (self.link.phy_overhead_bytes + mpdu) as f64 * 8.0 / self.link.bitrate_bps * 1e6
            }
        }
    }

    fn ma_us_to_uj(&self, ma: f64, us: f64) -> f64 {
        // mA × µs = nC; × V = nJ; / 1000 = µJ.
        ma * us * self.power.supply_v / 1000.0
    }

    /// Energy (µJ) and airtime (µs) to send one MAC frame and hear its acknowledgement.
    pub fn tx_frame(&self, mpdu: usize) -> (f64, f64) {
        let p = &self.power;
        let air = self.airtime_us(mpdu);
        let mut uj = self.ma_us_to_uj(p.rx_ma, self.link.cca_us) + self.ma_us_to_uj(p.tx_ma, air);
        let mut time = air;
        if self.link.ack_bytes > 0 {
            let ack = self.ack_airtime_us();
            uj += self.ma_us_to_uj(p.rx_ma, self.link.turnaround_us + ack);
            time += ack;
        }
        (uj, time)
    }

    /// Energy (µJ) and airtime (µs) to receive one MAC frame and acknowledge it.
    pub fn rx_frame(&self, mpdu: usize) -> (f64, f64) {
        let p = &self.power;
        let air = self.airtime_us(mpdu);
        let mut uj = self.ma_us_to_uj(p.rx_ma, air);
        let mut time = air;
        if self.link.ack_bytes > 0 {
            let ack = self.ack_airtime_us();
            uj +=
                self.ma_us_to_uj(p.rx_ma, self.link.turnaround_us) + self.ma_us_to_uj(p.tx_ma, ack);
            time += ack;
        }
        (uj, time)
    }

    fn ack_airtime_us(&self) -> f64 {
        let bytes = self
            .link
            .ack_bytes
            .saturating_sub(self.link.phy_overhead_bytes);
        self.airtime_us(bytes)
    }
}

/// What one scheme puts on air for one message, as the sensor sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Traffic {
    /// Stable key.
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Where the sizes come from.
    pub source: String,
    /// Datagrams the sensor sends per message (security-layer bytes, before link framing).
    pub tx: Vec<usize>,
    /// Datagrams the sensor receives per message.
    pub rx: Vec<usize>,
    /// Response flights the sensor waits for.
    pub waits: usize,
    /// Host nanoseconds of crypto per message.
    pub cpu_host_ns: f64,
    /// Weight of this variant when a scheme alternates frame sizes (sums to 1 per scheme).
    pub weight: f64,
}

/// Energy breakdown of one message, µJ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Energy {
    /// Waking the MCU and radio.
    pub wake: f64,
    /// Sending (CCA, TX, waiting for ACKs).
    pub tx: f64,
    /// Receiving (and acknowledging).
    pub rx: f64,
    /// Listening for response flights.
    pub wait: f64,
    /// Crypto on the MCU.
    pub cpu: f64,
    /// Sum.
    pub total: f64,
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemeCost {
    /// Stable key.
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Where the sizes come from.
    pub source: String,
    /// Security-layer bytes per message, sent (mean for alternating sizes).
    pub message_bytes: f64,
    /// Bytes added to the payload by security (and, for OSCORE, CoAP), per message sent.
    pub overhead_bytes: f64,
    /// Security-layer bytes before the first protected message of a wake (handshake), both ways.
    pub handshake_bytes: f64,
    /// Link frames sent per message.
    pub frames_tx: f64,
    /// Link frames received per message.
    pub frames_rx: f64,
    /// Bytes on air sent per message (PHY + MAC + network + fragment headers).
    pub air_bytes_tx: f64,
    /// Bytes on air received per message.
    pub air_bytes_rx: f64,
    /// Airtime per message, ms.
    pub airtime_ms: f64,
    /// Energy per message.
    pub energy_uj: Energy,
    /// Average current at the chosen interval, µA.
    pub avg_current_ua: f64,
    /// Battery life at the chosen interval, months.
    pub battery_months: f64,
}

/// Hours in a month (365.25 / 12 days).
pub const HOURS_PER_MONTH: f64 = 730.5;
const HOURS_PER_YEAR: f64 = 8766.0;

/// The model's inputs.
pub struct Model<'a> {
    /// Radio.
    pub radio: &'a Radio,
    /// Battery.
    pub battery: &'a Battery,
    /// Crypto timing.
    pub crypto: &'a Crypto,
}

impl Model<'_> {
    fn energy(&self, t: &Traffic) -> (Energy, f64, [f64; 4]) {
        let p = &self.radio.power;
        let mut e = Energy {
            wake: self.radio.ma_us_to_uj(p.wakeup_ma, p.wakeup_us),
            ..Energy::default()
        };
        let (mut air, mut frames_tx, mut frames_rx, mut bytes_tx, mut bytes_rx) =
            (0.0, 0.0, 0.0, 0.0, 0.0);
        for &d in &t.tx {
            for f in self.radio.frames(d) {
                let (uj, us) = self.radio.tx_frame(f);
                e.tx += uj;
                air += us;
                frames_tx += 1.0;
                bytes_tx += (f + self.radio.link.phy_overhead_bytes) as f64;
            }
        }
        for &d in &t.rx {
            for f in self.radio.frames(d) {
                let (uj, us) = self.radio.rx_frame(f);
                e.rx += uj;
                air += us;
                frames_rx += 1.0;
                bytes_rx += (f + self.radio.link.phy_overhead_bytes) as f64;
            }
        }
        e.wait = self
            .radio
            .ma_us_to_uj(p.rx_ma, t.waits as f64 * p.flight_wait_ms * 1000.0);
        e.cpu = self.radio.ma_us_to_uj(
            p.cpu_ma,
            t.cpu_host_ns * self.crypto.target.host_to_target / 1000.0,
        );
        e.total = e.wake + e.tx + e.rx + e.wait + e.cpu;
        (e, air, [frames_tx, frames_rx, bytes_tx, bytes_rx])
    }

    /// Average current (µA) for `energy_uj` per message every `interval_s` seconds.
    pub fn avg_current_ua(&self, energy_uj: f64, interval_s: f64) -> f64 {
        // µJ / s / V = µA.
        self.radio.power.sleep_ua + energy_uj / interval_s / self.radio.power.supply_v
    }

    /// Months of battery at an average current of `ua` µA, self-discharge included.
    pub fn months(&self, ua: f64) -> f64 {
        let b = self.battery;
        let usable = b.capacity_mah * b.usable_fraction;
        let self_discharge_ma = b.capacity_mah * b.self_discharge_per_year / HOURS_PER_YEAR;
        usable / (ua / 1000.0 + self_discharge_ma) / HOURS_PER_MONTH
    }

    /// The cost of a scheme whose message is one of `variants` (weighted).
    pub fn cost(&self, payload: usize, interval_s: f64, variants: &[Traffic]) -> SchemeCost {
        let first = &variants[0];
        let mut row = SchemeCost {
            key: first.key,
            name: first.name,
            source: first.source.clone(),
            message_bytes: 0.0,
            overhead_bytes: 0.0,
            handshake_bytes: 0.0,
            frames_tx: 0.0,
            frames_rx: 0.0,
            air_bytes_tx: 0.0,
            air_bytes_rx: 0.0,
            airtime_ms: 0.0,
            energy_uj: Energy::default(),
            avg_current_ua: 0.0,
            battery_months: 0.0,
        };
        for t in variants {
            let w = t.weight;
            let (e, air, [ftx, frx, btx, brx]) = self.energy(t);
            let last = t.tx.last().copied().unwrap_or(0) as f64;
            let before: usize = t.tx[..t.tx.len().saturating_sub(1)].iter().sum();
            row.message_bytes += w * last;
            row.overhead_bytes += w * (last - payload as f64);
            row.handshake_bytes += w * (before + t.rx.iter().sum::<usize>()) as f64;
            row.frames_tx += w * ftx;
            row.frames_rx += w * frx;
            row.air_bytes_tx += w * btx;
            row.air_bytes_rx += w * brx;
            row.airtime_ms += w * air / 1000.0;
            let en = &mut row.energy_uj;
            en.wake += w * e.wake;
            en.tx += w * e.tx;
            en.rx += w * e.rx;
            en.wait += w * e.wait;
            en.cpu += w * e.cpu;
            en.total += w * e.total;
        }
        row.avg_current_ua = self.avg_current_ua(row.energy_uj.total, interval_s);
        row.battery_months = self.months(row.avg_current_ua);
        row
    }
}

/// HMAC-SHA256 computations of a DTLS 1.2 PSK full handshake on the client (RFC 5246 §5 PRF,
/// P_SHA256 = one HMAC per A(i) and one per output block): extended master secret (48 bytes,
/// 2 blocks: 4), key block for AES-128-CCM_8 (2 × 16-byte keys + 2 × 4-byte IVs = 40 bytes,
/// 2 blocks: 4), client and server Finished (12 bytes, 1 block each: 2 + 2).
pub const DTLS12_FULL_HMACS: f64 = 12.0;
/// The same for an abbreviated handshake: key block and the two Finished messages.
pub const DTLS12_RESUMED_HMACS: f64 = 8.0;
/// HMAC-SHA256 computations of a DTLS 1.3 PSK-only (psk_ke) full handshake on the client with
/// a HelloRetryRequest (RFC 8446 §7.1, RFC 9147 §4.2.3), one HMAC per HKDF-Extract and per
/// 32-byte-or-shorter HKDF-Expand: early secret 1; binder key and its finished key 2, a binder
/// per ClientHello 2; derived and handshake secret 2; two handshake traffic secrets 2 with key,
/// IV and record-number key each 6; two Finished keys 2, Finished computed and verified 2;
/// derived and master secret 2; two application traffic secrets 2 with key, IV and
/// record-number key each 6.
pub const DTLS13_PSK_HMACS: f64 = 29.0;
/// SHA-256 compressions in an HMAC of a short message (inner key block and message block,
/// outer key block and inner hash): an HMAC over 64 bytes costs four.
const COMPRESSIONS_PER_HMAC: f64 = 4.0;
/// SHA-256 block size.
const SHA256_BLOCK: f64 = 64.0;

/// Host ns of a DTLS 1.2 PSK handshake's key schedule and transcript hash.
pub fn handshake_ns(hmacs: f64, handshake_bytes: usize, host: &HostCrypto) -> f64 {
    let transcript_blocks = (handshake_bytes as f64 / SHA256_BLOCK).ceil();
    host.hmac_sha256_64b_ns * (hmacs + transcript_blocks / COMPRESSIONS_PER_HMAC)
}

/// DTLS 1.3 record with AES-128-CCM_8, a model of RFC 9147 §4, used when no wolfSSL
/// measurement is recorded (the measurement agrees: 14 bytes): unified header byte, 16-bit sequence number,
/// 16-bit length, encrypted inner content type, 8-byte tag.
pub const DTLS13_MODEL_OVERHEAD: usize = 1 + 2 + 2 + 1 + 8;

/// The recorded baselines the comparison is built from.
pub struct Baselines<'a> {
    /// OpenSSL DTLS 1.2.
    pub dtls12: &'a DtlsResult,
    /// Mbed TLS DTLS 1.2, when recorded.
    pub mbedtls: Option<&'a DtlsResult>,
    /// wolfSSL DTLS 1.3, when recorded.
    pub dtls13: Option<&'a DtlsResult>,
    /// aiocoap OSCORE.
    pub oscore: &'a OscoreResult,
    /// Host HMAC timing.
    pub host: &'a HostCrypto,
}

/// Every scheme's traffic for one message of `payload` bytes. `meshseal` and
/// `meshseal_implicit` are frames just sealed by the core.
pub fn schemes(
    payload: usize,
    b: &Baselines<'_>,
    crypto: &Crypto,
    meshseal: &MeshsealRow,
    meshseal_implicit: &MeshsealRow,
) -> Vec<Vec<Traffic>> {
    let seal = interpolate(&crypto.seal_ns, payload);
    let dtls_src = format!(
        "measured: {} ({}), {}",
        b.dtls12.tool, b.dtls12.version, b.dtls12.date
    );
    let record = payload + b.dtls12.overhead(payload).unwrap_or(0);
    let full = &b.dtls12.full_handshake;
    let hs_bytes = |p: &crate::measure::Phase| p.totals.c2s_bytes + p.totals.s2c_bytes;
    let with_record = |p: &crate::measure::Phase| {
        let mut tx: Vec<usize> = p.c2s().collect();
        tx.push(record);
        tx
    };
    let oscore_row = b.oscore.row(payload);
    let oscore_msg = oscore_row.map_or(0, |r| r.oscore_request - r.payload + payload);
    let one = |key, name, source: String, tx: Vec<usize>, rx: Vec<usize>, waits, cpu| Traffic {
        key,
        name,
        source,
        tx,
        rx,
        waits,
        cpu_host_ns: cpu,
        weight: 1.0,
    };
    let frames = |key, name, row: &MeshsealRow| -> Vec<Traffic> {
        let w = 1.0 / row.period.len().max(1) as f64;
        row.period
            .iter()
            .map(|&n| Traffic {
                key,
                name,
                source: format!("sealed by the core now ({} sender id)", row.mode),
                tx: vec![n],
                rx: vec![],
                waits: 0,
                cpu_host_ns: seal,
                weight: w,
            })
            .collect()
    };
    let mut out = vec![
        vec![one(
            "dtls12",
            "DTLS 1.2 PSK CCM_8, session kept",
            dtls_src.clone(),
            vec![record],
            vec![],
            0,
            seal,
        )],
        vec![one(
            "dtls12_handshake",
            "DTLS 1.2 PSK CCM_8, full handshake after each sleep",
            dtls_src.clone(),
            with_record(full),
            full.s2c().collect(),
            count_s2c_flights(full),
            seal + handshake_ns(DTLS12_FULL_HMACS, hs_bytes(full), b.host),
        )],
    ];
    if let Some(resumed) = &b.dtls12.resumed_handshake {
        out.push(vec![one(
            "dtls12_resumed",
            "DTLS 1.2 PSK CCM_8, resumed handshake after each sleep",
            dtls_src,
            with_record(resumed),
            resumed.s2c().collect(),
            count_s2c_flights(resumed),
            seal + handshake_ns(DTLS12_RESUMED_HMACS, hs_bytes(resumed), b.host),
        )]);
    }
    if let Some(m) = b.mbedtls {
        let full = &m.full_handshake;
        let mut tx: Vec<usize> = full.c2s().collect();
        tx.push(payload + m.overhead(payload).unwrap_or(0));
        out.push(vec![one(
            "dtls12_handshake_mbedtls",
            "DTLS 1.2 PSK CCM_8, full handshake after each sleep (Mbed TLS)",
            format!("measured: {} ({}), {}", m.tool, m.version, m.date),
            tx,
            full.s2c().collect(),
            count_s2c_flights(full),
            seal + handshake_ns(DTLS12_FULL_HMACS, hs_bytes(full), b.host),
        )]);
    }
    match b.dtls13 {
        Some(w) => {
            // wolfSSL refuses CCM_8 records under a 16-byte ciphertext: an application pads
            // a shorter message up to the smallest payload it sends.
            let floor = w
                .records
                .iter()
                .map(|r| r.payload)
                .filter(|&p| w.refused_payloads.iter().all(|&q| q < p))
                .min()
                .unwrap_or(0);
            let sent = payload.max(floor);
            let record = sent + w.overhead(sent).unwrap_or(DTLS13_MODEL_OVERHEAD);
            let src = format!(
                "measured: {} ({}), {}{}",
                w.tool,
                w.version,
                w.date,
                if sent > payload {
                    format!("; refuses payloads under {floor} B, padded to {floor}")
                } else {
                    String::new()
                }
            );
            let full = &w.full_handshake;
            let mut tx: Vec<usize> = full.c2s().collect();
            tx.push(record);
            out.push(vec![one(
                "dtls13",
                "DTLS 1.3 PSK CCM_8, session kept (wolfSSL)",
                src.clone(),
                vec![record],
                vec![],
                0,
                seal,
            )]);
            out.push(vec![one(
                "dtls13_handshake",
                "DTLS 1.3 PSK CCM_8, full handshake after each sleep (wolfSSL)",
                src,
                tx,
                full.s2c().collect(),
                count_s2c_flights(full),
                seal + handshake_ns(DTLS13_PSK_HMACS, hs_bytes(full), b.host),
            )]);
        }
        None => out.push(vec![one(
            "dtls13",
            "DTLS 1.3 CCM_8, session kept (model)",
            "model of RFC 9147 §4 record header (no DTLS 1.3 measurement recorded)".into(),
            vec![payload + DTLS13_MODEL_OVERHEAD],
            vec![],
            0,
            seal,
        )]),
    }
    out.extend([
        vec![one(
            "oscore",
            "OSCORE (CoAP request)",
            format!(
                "measured: {} {}, {}",
                b.oscore.tool, b.oscore.aiocoap, b.oscore.date
            ),
            vec![oscore_msg],
            vec![],
            0,
            seal,
        )],
        frames("meshseal", "meshseal compact", meshseal),
        frames(
            "meshseal_implicit",
            "meshseal compact, implicit sender",
            meshseal_implicit,
        ),
    ]);
    out
}

fn count_s2c_flights(p: &crate::measure::Phase) -> usize {
    let mut n = 0;
    let mut last = None;
    for d in &p.datagrams {
        if last != Some(d.dir) && d.dir == crate::relay::Dir::S2c {
            n += 1;
        }
        last = Some(d.dir);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn radio() -> Radio {
        toml::from_str(include_str!("../../../data/radios/ieee802154.toml")).unwrap()
    }

    fn battery() -> Battery {
        toml::from_str(include_str!("../../../data/batteries/cr2032.toml")).unwrap()
    }

    fn crypto() -> Crypto {
        toml::from_str(include_str!("../../../data/crypto.toml")).unwrap()
    }

    #[test]
    fn interpolation() {
        let p = [(1, 10.0), (16, 40.0), (64, 100.0)];
        assert_eq!(interpolate(&p, 1), 10.0);
        assert_eq!(interpolate(&p, 16), 40.0);
        assert!((interpolate(&p, 40) - 70.0).abs() < 1e-9);
        // Beyond the last point: the last segment's slope.
        assert!((interpolate(&p, 112) - 160.0).abs() < 1e-9);
        assert_eq!(interpolate(&[], 5), 0.0);
    }

    #[test]
    fn ieee802154_framing_by_hand() {
        let r = radio();
        // 14-byte meshseal frame: MAC 9 + 6LoWPAN/UDP 7 + 14 + FCS 2 = 32-byte MPDU.
        assert_eq!(r.frames(14), vec![32]);
        // Largest unfragmented datagram: 127 - 11 - 7 = 109 bytes.
        assert_eq!(r.frames(109), vec![127]);
        // 110 bytes + 7 header = 117 > 116: FRAG1 carries 112 (14 × 8), FRAGN the last 5.
        assert_eq!(r.frames(110), vec![11 + 4 + 112, 11 + 5 + 5]);
        // Airtime of the 32-byte MPDU: (6 + 32) bytes × 32 µs = 1216 µs.
        assert!((r.airtime_us(32) - 1216.0).abs() < 1e-9);
        // TX energy: CCA 128 µs at 20 mA, 1216 µs at 24 mA, turnaround 192 µs + ACK 352 µs at 20 mA,
        // at 3 V: (20·128 + 24·1216 + 20·(192 + 352)) · 3 / 1000 µJ.
        let (uj, us) = r.tx_frame(32);
        let by_hand = (20.0 * 128.0 + 24.0 * 1216.0 + 20.0 * (192.0 + 352.0)) * 3.0 / 1000.0;
        assert!((uj - by_hand).abs() < 1e-9, "{uj} vs {by_hand}");
        assert!((us - (1216.0 + 352.0)).abs() < 1e-9);
    }

    #[test]
    fn lora_airtime_matches_the_datasheet_formula() {
        let r: Radio = toml::from_str(include_str!("../../../data/radios/lora.toml")).unwrap();
        // SF7/125 kHz: Tsym = 1.024 ms; preamble (8 + 4.25) Tsym = 12.544 ms;
        // 23-byte payload: 8 + ceil((184 - 28 + 28 + 16) / 28) × 5 = 8 + 8 × 5 = 48 symbols.
        let t = r.airtime_us(23);
        assert!((t - (12.544 + 48.0 * 1.024) * 1000.0).abs() < 1e-6, "{t}");
    }

    #[test]
    fn battery_months_by_hand() {
        let (r, b, c) = (radio(), battery(), crypto());
        let m = Model {
            radio: &r,
            battery: &b,
            crypto: &c,
        };
        // 10 µA average: 235 mAh × 0.8 / (0.010 + 235 × 0.01 / 8766) mA / 730.5 h.
        let expect = 235.0 * 0.8 / (0.010 + 235.0 * 0.01 / 8766.0) / 730.5;
        assert!((m.months(10.0) - expect).abs() < 1e-9);
        // 600 µJ every 60 s at 3 V adds 600 / 60 / 3 = 3.333 µA to the 1.3 µA sleep current.
        assert!((m.avg_current_ua(600.0, 60.0) - (1.3 + 600.0 / 180.0)).abs() < 1e-9);
    }

    #[test]
    fn a_single_frame_message_by_hand() {
        let (r, b, c) = (radio(), battery(), crypto());
        let m = Model {
            radio: &r,
            battery: &b,
            crypto: &c,
        };
        let t = Traffic {
            key: "x",
            name: "x",
            source: String::new(),
            tx: vec![14],
            rx: vec![],
            waits: 0,
            cpu_host_ns: 1000.0,
            weight: 1.0,
        };
        let row = m.cost(4, 60.0, &[t]);
        let (tx, _) = r.tx_frame(32);
        let wake = 7.0 * 250.0 * 3.0 / 1000.0;
        let cpu = 7.0 * (1000.0 * 280.0 / 1000.0) * 3.0 / 1000.0;
        assert!((row.energy_uj.total - (tx + wake + cpu)).abs() < 1e-9);
        assert_eq!(row.overhead_bytes, 10.0);
        assert_eq!(row.air_bytes_tx, 38.0);
        assert_eq!(row.frames_tx, 1.0);
    }
}
