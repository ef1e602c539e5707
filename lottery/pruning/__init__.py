"""Masks (one bool tensor per prunable layer), one IMP pruning step by magnitude (`mask`), and the controls a
ticket is compared against (`controls`: the random ticket, re-initialised, signs kept, signs flipped; each
loads torch only when drawn). Imports only the foundations."""
