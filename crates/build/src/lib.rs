//! berth's Dockerfile front end, pure (no I/O beyond what callers hand in): the parser
//! ([`parser`]), the shell-word lexer and variable expansion ([`lex`]), typed instructions and
//! the stage graph ([`instructions`], [`stages`]), `.dockerignore` matching ([`ignore`]) and
//! build-cache keys ([`cachekey`]). The engine executes the plan.

pub mod lex;
mod line_parsers;
pub mod parser;

pub use lex::{Lex, LexError};
pub use parser::{parse, Heredoc, Node, ParseError, Parsed};
pub mod ignore;
pub mod instructions;
pub mod stages;

pub use instructions::{dockerfile, Dockerfile, Instruction, Stage, Step};
