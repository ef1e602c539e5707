"""Training a masked network with Lightning: the LightningModule (`classifier`), the IMP callback (`imp`),
one `fit`, the device, and the verdict on a ticket. Imports the foundations, `models`, `pruning`, `data`."""
