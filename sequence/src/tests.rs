//! The command set and the text form, without a reactor.

use std::collections::HashSet;
use std::mem::discriminant;

use crate::*;

/// How many variants [`Cmd`] has: every one must come out of [`Input::from_bytes`].
const VARIANTS: usize = 38;

#[test]
fn text_form_round_trips_every_cmd_variant() {
    let mut seen = HashSet::new();
    for seed in 0..2000 {
        for cmd in Input::from_bytes(&seeded_bytes(seed, 256)).cmds {
            seen.insert(discriminant(&cmd));
            let line = cmd.to_string();
            let input: Input = line.parse().unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(input.cmds.len(), 1, "{line}");
            let back = input.cmds[0];
            assert_eq!(discriminant(&back), discriminant(&cmd), "{line}");
            assert_eq!(back.to_string(), line);
            // Lengths are shown reduced; everything else reads back to the same value.
            let same = match (cmd, back) {
                (Cmd::TcpSend { len: a, .. }, Cmd::TcpSend { len: b, .. }) => a % 65 == b,
                (Cmd::PeerWrite { len: a, .. }, Cmd::PeerWrite { len: b, .. }) => a % 33 == b,
                (
                    Cmd::FaultArm {
                        syscall: s1,
                        errno: e1,
                        times: a,
                    },
                    Cmd::FaultArm {
                        syscall: s2,
                        errno: e2,
                        times: b,
                    },
                ) => s1 == s2 && e1 == e2 && a % 3 == b,
                _ => back == cmd,
            };
            assert!(same, "{cmd:?} came back as {back:?}");
        }
    }
    assert_eq!(
        seen.len(),
        VARIANTS,
        "variants generated (update VARIANTS for a new one)"
    );
}

#[test]
fn reactor_line_round_trips() {
    for batch in 0..4u8 {
        for manifest in [
            ManifestChoice::None,
            ManifestChoice::Loopback4,
            ManifestChoice::ListenOnly,
            ManifestChoice::ConnectOnly,
        ] {
            for (ids_from, ids_up_to) in [(1, i32::MAX), (IDS_NEAR_WRAP, i32::MAX), (3, 5)] {
                let input = Input {
                    manifest,
                    batch,
                    ids_from,
                    ids_up_to,
                    cmds: vec![Cmd::Drain],
                };
                assert_eq!(input.to_string().parse::<Input>(), Ok(input));
            }
        }
    }
}

#[test]
fn from_bytes_never_panics_on_short_inputs() {
    assert_eq!(Input::from_bytes(&[]).cmds, vec![]);
    for a in 0..=255u8 {
        Input::from_bytes(&[a]);
        for b in 0..=255u8 {
            Input::from_bytes(&[a, b]);
            Input::from_bytes(&[a, b, a ^ b]);
        }
    }
    for seed in 0..5000 {
        let n = (seed % 16) as usize;
        let input = Input::from_bytes(&seeded_bytes(seed, n));
        assert!(
            input.cmds.len() <= n,
            "{n} bytes gave {} commands",
            input.cmds.len()
        );
    }
}

#[test]
fn from_bytes_stops_at_max_cmds() {
    assert_eq!(Input::from_bytes(&[7u8; 4096]).cmds.len(), MAX_CMDS);
}

#[test]
fn bad_text_is_an_error_naming_the_line() {
    for (text, line) in [
        ("drain\nfly_away\n", 2),
        ("server.close id=3\n", 1),
        ("server.close\n", 1),
        ("tcp.send id=#1 len=65\n", 1),
        ("peer.write peer=#0 len=0\n", 1),
        ("reactor manifest=none batch=5\n", 1),
        ("reactor manifest=none batch=1 ids_from=0\n", 1),
        ("reactor manifest=none batch=1 ids_from=9 ids_up_to=8\n", 1),
        (
            "# comment\nserver.listen id=#0 address=127.0.0.1 port=server backlog=1\n",
            2,
        ),
        ("turn timeout\n", 1),
        ("fault.arm syscall=accept errno=ENOBUFS times=4\n", 1),
        ("fault.arm syscall=poll errno=ENOBUFS times=1\n", 1),
        ("tcp.send_big id=#0 size=3m\n", 1),
    ] {
        let e = text.parse::<Input>().unwrap_err();
        assert!(e.starts_with(&format!("line {line}:")), "{text:?}: {e}");
    }
}

/// The only test here that runs a reactor (`run` checks the process's fd count, so tests that
/// open fds must not run beside it).
#[test]
fn trace_records_predictions_results_and_events_per_command() {
    let input: Input = "
        server.create name=a persistent=unset
        server.listen id=#0 address=127.0.0.1 port=0 backlog=default
        tcp.create name=unset persistent=unset buffer_size=unset
        turn timeout=1ms
        tcp.connect id=#0 address=127.0.0.1 port=server#0
        server.close id=#250
        set_timeout delay=1ms
        drain
    "
    .parse()
    .unwrap();
    let trace = run(&input, &Options::default());
    assert_eq!(trace.steps.len(), input.cmds.len() + 1);
    for (step, cmd) in trace.steps.iter().zip(&input.cmds) {
        assert_eq!(step.cmd.as_ref(), Some(cmd));
    }
    assert_eq!(trace.steps.last().unwrap().cmd, None);
    // Every exact prediction was met.
    for seen in trace.steps.iter().flat_map(|s| &s.seen) {
        if let Seen::Callback {
            got,
            predicted: Some(p),
            call,
            ..
        } = seen
        {
            assert_eq!(got, p, "{call}");
        }
    }
    let calls: Vec<(&str, &Got)> = trace.callbacks().collect();
    assert_eq!(calls[0], ("tcpServer.create -> 1", &Got::Created(1)));
    // `#250` picks a never-issued id: -1.
    assert!(calls.contains(&("tcpServer.close -1", &Got::not_found())));
    let connect = calls.iter().find(|(c, _)| c.starts_with("tcp.connect"));
    assert_eq!(connect.map(|c| c.1), Some(&Got::Unit));
    // The drain waited for the timer; the connect's callback ran by then.
    let drained = &trace.steps[input.cmds.len() - 1].seen;
    assert!(drained.contains(&Seen::Timer { index: 0 }), "{trace:#?}");
}
