//! Key and gamepad button names as the config writes them: Bevy's own variant names, checked
//! by the config and resolved by the wall's bindings.

use bevy::input::gamepad::GamepadButton;
use bevy::input::keyboard::KeyCode;

macro_rules! names {
    ($ty:ident: $($v:ident),* $(,)?) => {
        &[$((stringify!($v), $ty::$v)),*]
    };
}

const KEYS: &[(&str, KeyCode)] = names!(KeyCode:
    ArrowLeft, ArrowRight, ArrowUp, ArrowDown, Home, End, PageUp, PageDown, Insert, Delete,
    KeyA, KeyB, KeyC, KeyD, KeyE, KeyF, KeyG, KeyH, KeyI, KeyJ, KeyK, KeyL, KeyM, KeyN, KeyO,
    KeyP, KeyQ, KeyR, KeyS, KeyT, KeyU, KeyV, KeyW, KeyX, KeyY, KeyZ,
    Digit0, Digit1, Digit2, Digit3, Digit4, Digit5, Digit6, Digit7, Digit8, Digit9,
    F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11, F12,
    Numpad0, Numpad1, Numpad2, Numpad3, Numpad4, Numpad5, Numpad6, Numpad7, Numpad8, Numpad9,
    NumpadAdd, NumpadSubtract, NumpadMultiply, NumpadDivide, NumpadEnter, NumpadDecimal,
    Equal, Minus, BracketLeft, BracketRight, Comma, Period, Slash, Semicolon, Quote, Backquote,
    Backslash, Space, Enter, Tab, Backspace,
);

const BUTTONS: &[(&str, GamepadButton)] = names!(GamepadButton:
    South, East, North, West, C, Z, LeftTrigger, LeftTrigger2, RightTrigger, RightTrigger2,
    Select, Start, Mode, LeftThumb, RightThumb, DPadUp, DPadDown, DPadLeft, DPadRight,
);

pub fn key(name: &str) -> Option<KeyCode> {
    KEYS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

pub fn pad_button(name: &str) -> Option<GamepadButton> {
    BUTTONS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
