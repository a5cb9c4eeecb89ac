//! The command-sequence harness (the fuzz target's) on stable: seeded random sequences and
//! every checked-in regression sequence in `tests/sequences/*.txt` agree with the model
//! (`sequence/`, the `chrome-sockets-sequence` crate).
mod util;

use chrome_sockets_sequence::{run, seeded_bytes, Input, Options, MAX_CMDS};

/// Half the seeds start from a listening server with a peer and a connecting tcp socket, so
/// random commands find live sockets more often.
const PROLOGUE: &str = "
server.create name=a persistent=unset
server.listen id=#0 address=127.0.0.1 port=0 backlog=default
tcp.create name=unset persistent=unset buffer_size=unset
turn timeout=1ms
turn timeout=1ms
peer.connect server=#0 v6=false
tcp.connect id=#0 address=127.0.0.1 port=server#0
";

fn input(seed: u64) -> Input {
    // 8 to 256 bytes: a few to 64 commands.
    let mut input = Input::from_bytes(&seeded_bytes(seed, 8 << (seed % 6)));
    if seed % 2 == 1 {
        let mut cmds = PROLOGUE.parse::<Input>().unwrap().cmds;
        cmds.append(&mut input.cmds);
        cmds.truncate(MAX_CMDS);
        input.cmds = cmds;
    }
    input
}

fn seeds() -> u64 {
    std::env::var("CS_SEQUENCE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn seeded_random_sequences_agree_with_the_model() {
    let _serial = util::serial();
    for seed in 0..seeds() {
        let input = input(seed);
        let outcome = std::panic::catch_unwind(|| run(&input, &Options::default()));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("seed {seed} failed: {msg}\nreplay with the text form:\n{input}");
        }
    }
}

#[test]
fn checked_in_sequences_agree_with_the_model() {
    let _serial = util::serial();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sequences");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/sequences")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regression sequences in {dir}");
    let mut failed = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let input: Input = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The text form reads back to itself.
        assert_eq!(input.to_string().parse::<Input>().unwrap(), input);
        if std::panic::catch_unwind(|| run(&input, &Options::default())).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "failed: {failed:#?}");
}

#[test]
fn text_form_round_trips_generated_inputs() {
    for seed in 0..200 {
        let input = input(seed);
        let text = input.to_string();
        let back: Input = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.to_string(), text);
    }
}
