//! Replays a command sequence, printing each command, callback and event as it happens:
//!
//! ```text
//! cargo run --example replay -- tests/sequences/<name>.txt      # the text form
//! cargo run --example replay -- --from-bytes <fuzz artifact>    # a raw fuzz input
//! cargo run --example replay -- --print <fuzz artifact>         # only print its text form
//! ```
//!
//! A run that disagrees with the model panics with the first disagreement. `--help` prints
//! the usage; a bad command line, a file that cannot be read, or a text file that is not
//! UTF-8 or not a sequence exits 2 with a one-line error.

mod common;

use chrome_sockets_sequence::{run, Input, Options};
use common::Cli;

const USAGE: &str = "\
usage: replay <sequence.txt>
       replay --from-bytes <fuzz artifact>
       replay --print <fuzz artifact>

Replays a command sequence against the library and its model, printing every command,
callback and event; panics at the first disagreement.
  <sequence.txt>           the text form (tests/sequences/*.txt)
  --from-bytes <artifact>  a raw fuzz input (fuzz/artifacts/command_sequence/...)
  --print <artifact>       print a raw fuzz input's text form and exit
  --help                   this text
";

fn main() {
    let mut cli = Cli::new("replay", USAGE);
    let mut mode = None;
    let mut path = None;
    while let Some(arg) = cli.next_arg() {
        match arg.as_str() {
            "--from-bytes" | "--print" if path.is_none() => {
                path = Some(cli.text(&arg));
                mode = Some(arg);
            }
            flag if flag.starts_with("--") => cli.unknown(flag),
            _ if path.is_none() => path = Some(arg),
            _ => cli.fail(format!("unexpected argument {arg:?}")),
        }
    }
    let Some(path) = path else {
        cli.fail("no sequence file given");
    };
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) => cli.fail(format!("cannot read {path}: {e}")),
    };
    let input = match mode.as_deref() {
        Some(_) => Input::from_bytes(&data),
        None => {
            let Ok(text) = String::from_utf8(data) else {
                cli.fail(format!(
                    "{path} is not UTF-8 text; for a raw fuzz input use --from-bytes"
                ));
            };
            match text.parse::<Input>() {
                Ok(input) => input,
                Err(e) => cli.fail(format!("{path}: {e}")),
            }
        }
    };
    if mode.as_deref() == Some("--print") {
        print!("{input}");
        return;
    }
    println!("# {} commands", input.cmds.len());
    run(&input, &Options { trace: true });
    println!("# ok: every callback and event agreed with the model");
}
