"""Masks (one bool tensor per prunable layer), one IMP pruning step by magnitude, and the random-ticket
control. Imports only the foundations and `lottery.models`."""
