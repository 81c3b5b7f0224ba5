//! Keeps functions short enough to read at once: no function outside tests is longer
//! than `MAX_LINES`, counted from `fn` to its closing brace. The demo's script is the
//! one exception: it reads as a story, top to bottom.

use std::path::{Path, PathBuf};

use syn::visit::Visit;

const MAX_LINES: usize = 80;
const EXEMPT: &[(&str, &str)] = &[("cli/src/demo.rs", "run")];
/// Folders whose sources are all tests, benchmarks or fixtures.
const SKIPPED_DIRS: &[&str] = &["tests", "benches", "target", "fuzz", "testkit", ".git"];

struct Lengths {
    file: String,
    long: Vec<String>,
}

impl Lengths {
    fn measure(&mut self, name: &syn::Ident, fn_token: &syn::token::Fn, block: &syn::Block) {
        let first = fn_token.span.start().line;
        let last = block.brace_token.span.close().end().line;
        let lines = last + 1 - first;
        let exempt = EXEMPT.contains(&(self.file.as_str(), name.to_string().as_str()));
        if lines > MAX_LINES && !exempt {
            self.long
                .push(format!("{}:{first} {name}: {lines} lines", self.file));
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        // `#[test]`, `#[tokio::test]`, `#[cfg(test)]`
        path.segments
            .last()
            .is_some_and(|last| last.ident == "test")
            || (path.is_ident("cfg")
                && attr.meta.require_list().is_ok_and(|list| {
                    list.tokens
                        .to_string()
                        .split_whitespace()
                        .any(|word| word == "test")
                }))
    })
}

impl<'ast> Visit<'ast> for Lengths {
    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        if !is_test_only(&module.attrs) {
            syn::visit::visit_item_mod(self, module);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test_only(&item.attrs) {
            self.measure(&item.sig.ident, &item.sig.fn_token, &item.block);
        }
        syn::visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test_only(&item.attrs) {
            self.measure(&item.sig.ident, &item.sig.fn_token, &item.block);
        }
        syn::visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.measure(&item.sig.ident, &item.sig.fn_token, block);
        }
        syn::visit::visit_trait_item_fn(self, item);
    }
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() && !SKIPPED_DIRS.contains(&name.as_ref()) && !name.starts_with('.') {
            sources(&path, found);
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_function_outside_tests_is_longer_than_the_limit() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut files = Vec::new();
    for top in ["shared", "functions", "cli", "tools"] {
        sources(&root.join(top), &mut files);
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut long = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source file readable");
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.strip_prefix(&root).unwrap_or(&path);
        let mut lengths = Lengths {
            file: file.to_string_lossy().into_owned(),
            long: Vec::new(),
        };
        lengths.visit_file(&ast);
        long.extend(lengths.long);
    }
    assert!(
        long.is_empty(),
        "split these functions:\n{}",
        long.join("\n")
    );
}
