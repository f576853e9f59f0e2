//! Camera names as folder names: the one rule, the same on every OS, that turns a camera's name
//! into a name Windows accepts (no `<>:"/\|?*` or control characters, no trailing dot or space,
//! no device name such as `CON` or `com1.x`), so a recording folder moves between machines.

/// Characters Windows refuses in a file name (besides control characters).
const REFUSED: &[char] = &['<', '>', ':', '"', '/', '\\', '|', '?', '*'];

/// Names Windows keeps for devices, with or without an extension, in any case.
const DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM1", "COM2", "COM3", "COM4", "COM5",
    "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5",
    "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// At most this many bytes of a name are kept (file systems allow 255 per component).
const MAX_BYTES: usize = 120;

/// The folder a camera's recordings and snapshots go to. Refused characters become `_`,
/// trailing dots and spaces become `_`, a device name gets `_` after it (`CON` → `CON_`,
/// `nul.cam` → `nul_.cam`), an empty name becomes `_`; long names are cut at a character.
pub fn folder_name(camera: &str) -> String {
    let mut name: String = camera
        .chars()
        .map(|c| {
            if c.is_control() || REFUSED.contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if name.len() > MAX_BYTES {
        let mut cut = MAX_BYTES;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    let kept = name.trim_end_matches(['.', ' ']).len();
    let trailing = name.len() - kept;
    name.truncate(kept);
    name.extend(std::iter::repeat_n('_', trailing));
    // Windows also treats `CON .txt` as CON: the device test ignores spaces before the dot.
    let stem_end = name.find('.').unwrap_or(name.len());
    if DEVICES
        .iter()
        .any(|d| d.eq_ignore_ascii_case(name[..stem_end].trim_end_matches(' ')))
    {
        name.insert(stem_end, '_');
    }
    if name.is_empty() {
        name.push('_');
    }
    name
}

/// Whether two cameras would record into one folder: their folder names are equal without
/// case (Windows' and macOS' file systems ignore case).
pub fn same_folder(a: &str, b: &str) -> bool {
    folder_name(a).to_lowercase() == folder_name(b).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_windows_refuses_are_made_acceptable() {
        for (camera, folder) in [
            ("Gate", "Gate"),
            ("Front door 2", "Front door 2"),
            ("Hall/Stairs", "Hall_Stairs"),
            (r"a\b", "a_b"),
            ("c:d", "c_d"),
            ("<x>", "_x_"),
            ("\"q\"", "_q_"),
            ("p|q", "p_q"),
            ("who?", "who_"),
            ("all*", "all_"),
            ("tab\there", "tab_here"),
            ("new\nline", "new_line"),
            ("dot.", "dot_"),
            ("space ", "space_"),
            ("both. .", "both___"),
            (".", "_"),
            ("..", "__"),
            ("", "_"),
            ("CON", "CON_"),
            ("con", "con_"),
            ("Nul", "Nul_"),
            ("PRN", "PRN_"),
            ("AUX", "AUX_"),
            ("COM1", "COM1_"),
            ("lpt9", "lpt9_"),
            ("COM²", "COM²_"),
            ("CONIN$", "CONIN$_"),
            ("nul.cam", "nul_.cam"),
            ("CON .x", "CON _.x"),
            ("COM10", "COM10"),
            ("CONSOLE", "CONSOLE"),
            ("Console", "Console"),
            ("COM0", "COM0"),
            ("Café Nord", "Café Nord"),
            ("門口", "門口"),
        ] {
            assert_eq!(folder_name(camera), folder, "{camera:?}");
        }
    }

    #[test]
    fn long_names_are_cut_at_a_character() {
        let long = "é".repeat(200);
        let f = folder_name(&long);
        assert!(f.len() <= MAX_BYTES && f.chars().all(|c| c == 'é'), "{f}");
    }

    #[test]
    fn a_folder_name_is_its_own_folder_name() {
        for camera in ["a:b", "CON", "x.", "nul.cam", "ok", "", "COM1 .y"] {
            let once = folder_name(camera);
            assert_eq!(folder_name(&once), once, "{camera:?}");
        }
    }

    #[test]
    fn folders_are_compared_without_case() {
        assert!(same_folder("Gate", "gate"));
        assert!(same_folder("a:b", "a_b"));
        assert!(same_folder("a:b", "A|B"));
        assert!(!same_folder("Gate", "Gate 2"));
    }
}
