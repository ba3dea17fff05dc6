import numpy as np

from kb.seqstore import SEPARATOR, SequenceStore


def test_roundtrip_and_layout(tmp_path):
    seqs = ["MKV", "A", "WWPLK"]
    st = SequenceStore.from_sequences(seqs)
    assert len(st) == 3 and st.n_residues == 9
    assert st.residues.tobytes() == b"MKV*A*WWPLK*"
    assert list(st.offsets) == [0, 4, 6, 12]
    assert (st.residues[st.offsets[1:] - 1] == SEPARATOR).all()
    st.save(tmp_path)
    back = SequenceStore.load(tmp_path)
    assert [back.sequence(i) for i in range(3)] == seqs
    assert np.array_equal(back.lengths(), [3, 1, 5])
