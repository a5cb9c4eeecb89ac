//! Replays a command sequence, printing each command, callback and event as it happens:
//!
//! ```text
//! cargo run --example replay -- tests/sequences/<name>.txt      # the text form
//! cargo run --example replay -- --from-bytes <fuzz artifact>    # a raw fuzz input
//! cargo run --example replay -- --print <fuzz artifact>         # only print its text form
//! ```
//!
//! A run that disagrees with the model panics with the first disagreement.
use chrome_sockets_sequence::{run, Input, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, print_only) = match args.as_slice() {
        [flag, path] if flag == "--from-bytes" || flag == "--print" => {
            let data = std::fs::read(path).expect("read the fuzz input");
            (Input::from_bytes(&data), flag == "--print")
        }
        [path] => {
            let text = std::fs::read_to_string(path).expect("read the sequence");
            match text.parse::<Input>() {
                Ok(input) => (input, false),
                Err(e) => {
                    eprintln!("{path}: {e}");
                    std::process::exit(2);
                }
            }
        }
        _ => {
            eprintln!("usage: replay <file.txt> | --from-bytes <artifact> | --print <artifact>");
            std::process::exit(2);
        }
    };
    if print_only {
        print!("{input}");
        return;
    }
    println!("# {} commands", input.cmds.len());
    run(&input, &Options { trace: true });
    println!("# ok: every callback and event agreed with the model");
}
