"""Data-side evidence, no detector involved: file cues from headers, a cue classifier (can the storage alone
tell the classes apart?), pixel evidence (where do the classes differ?) and the frequency view."""
