"""Frame decoders: datasheet vectors, resynchronisation, and no exception on any byte stream."""

from hypothesis import given, settings
from hypothesis import strategies as st

from components.lib.frames import id12, rdm6300, uhf_m100
from components.lib.frames.base import xor_checksum
from components.lib.frames.id12 import Id12Decoder
from components.lib.frames.rdm6300 import Rdm6300Decoder
from components.lib.frames.uhf_m100 import UhfM100Decoder

RDM_WIRE = bytes.fromhex("02363730303342353143364342 03".replace(" ", ""))
ID12_WIRE = bytes.fromhex("02304330303036323141353845 0D0A03".replace(" ", ""))
UHF_NOTICE = bytes.fromhex("bb0222001 1c93000e28011606000020 54d4b1a2b12348b7e".replace(" ", ""))


def test_rdm6300_datasheet_vector():
    assert xor_checksum(bytes.fromhex("67003B51C6")) == 0xCB
    assert rdm6300.encode("67003B51C6") == RDM_WIRE
    dec = Rdm6300Decoder()
    [read] = dec.feed(RDM_WIRE)
    assert read.tag_id == "67003B51C6"
    assert int(read.tag_id[2:], 16) == 3887558  # the number printed on the card
    assert dec.stats.frames == 1 and not dec.stats.rejects


def test_id12_datasheet_vector():
    assert xor_checksum(bytes.fromhex("0C000621A5")) == 0x8E
    assert id12.encode("0C000621A5") == ID12_WIRE
    dec = Id12Decoder()
    assert [r.tag_id for r in dec.feed(ID12_WIRE)] == ["0C000621A5"]


def test_id12_meadow_example():
    frame = b"\x027C0055F8C415\r\n\x03"
    assert [r.tag_id for r in Id12Decoder().feed(frame)] == ["7C0055F8C4"]


def test_byte_by_byte_and_garbage_between_frames():
    dec = Rdm6300Decoder()
    stream = b"\xff\x00junk" + RDM_WIRE + b"\x02\x03" + RDM_WIRE
    reads = [r for b in stream for r in dec.feed(bytes([b]))]
    assert [r.tag_id for r in reads] == ["67003B51C6", "67003B51C6"]
    assert dec.stats.bytes_discarded == len(b"\xff\x00junk") + 2
    assert dec.stats.frames == 2


def test_bad_checksum_counted_and_next_frame_recovered():
    bad = bytearray(RDM_WIRE)
    bad[-2] = ord("A")  # checksum "CA" instead of "CB"
    dec = Rdm6300Decoder()
    reads = dec.feed(bytes(bad) + RDM_WIRE)
    assert [r.tag_id for r in reads] == ["67003B51C6"]
    assert dec.stats.rejects["bad_checksum"] == 1


def test_truncated_frame_then_good_frame():
    dec = Id12Decoder()
    reads = dec.feed(ID12_WIRE[:7] + ID12_WIRE)
    assert [r.tag_id for r in reads] == ["0C000621A5"]
    assert dec.stats.rejects["truncated"] == 1


def test_rdm_frame_is_rejected_by_id12_decoder():
    dec = Id12Decoder()
    assert dec.feed(RDM_WIRE + b"\x00\x00") == []
    assert sum(dec.stats.rejects.values()) >= 1


def test_uhf_notification_vector():
    dec = UhfM100Decoder()
    [read] = dec.feed(UHF_NOTICE)
    assert read.tag_id == "E2801160600002054D4B1A2B"
    assert read.rssi_dbm == 0xC9 - 256


def test_uhf_known_commands_checksums():
    assert uhf_m100.single_poll_command() == bytes.fromhex("BB00220000227E")
    multi = uhf_m100.encode(0x00, 0x27, bytes.fromhex("222710"))
    assert multi == bytes.fromhex("BB00270003222710837E")
    assert uhf_m100.error_response(0x15) == bytes.fromhex("bb01ff000115167e")


def test_uhf_no_tag_error_counted_not_a_read():
    dec = UhfM100Decoder()
    assert dec.feed(uhf_m100.error_response(0x15)) == []
    assert dec.errors == {0x15: 1}


def test_uhf_r200_variant_roundtrip():
    frame = uhf_m100.tag_notice(bytes(range(12)), rssi_raw=0xC0, variant=uhf_m100.R200)
    dec = UhfM100Decoder(uhf_m100.R200)
    assert [r.tag_id for r in dec.feed(b"\xaa\x00" + frame)] == [bytes(range(12)).hex().upper()]


def test_uhf_bad_checksum_and_resync():
    good = uhf_m100.tag_notice(bytes(12), rssi_raw=0xD0)
    bad = bytearray(good)
    bad[-2] ^= 0x01
    dec = UhfM100Decoder()
    reads = dec.feed(bytes(bad) + good)
    assert len(reads) == 1 and dec.stats.rejects["bad_checksum"] == 1


DECODERS = [Rdm6300Decoder, Id12Decoder, UhfM100Decoder]
FRAMES = [RDM_WIRE, ID12_WIRE, UHF_NOTICE]
TAGS = ["67003B51C6", "0C000621A5", "E2801160600002054D4B1A2B"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_random_streams_never_raise(chunks):
    for make in DECODERS:
        dec = make()
        for chunk in chunks:
            for read in dec.feed(chunk):
                assert read.tag_id
        s = dec.stats
        assert s.bytes_in == sum(map(len, chunks))
        assert s.bytes_discarded <= s.bytes_in


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40), st.integers(1, 17))
def test_valid_frame_survives_surrounding_noise(prefix, suffix, chunk):
    """A good frame after arbitrary noise is still found (noise cannot swallow it)."""
    for make, frame, tag in zip(DECODERS, FRAMES, TAGS, strict=True):
        dec = make()
        stream = prefix + frame + suffix
        reads = []
        for i in range(0, len(stream), chunk):
            reads += dec.feed(stream[i : i + chunk])
        assert tag in [r.tag_id for r in reads]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=5, max_size=5), min_size=1, max_size=5),
    st.integers(1, 20),
    st.sampled_from([Rdm6300Decoder, Id12Decoder]),
)
def test_em4100_roundtrip_any_ids_any_chunking(ids, chunk, make):
    stream = b"".join(make.encode(i.hex()) for i in ids)
    dec = make()
    reads = [r for k in range(0, len(stream), chunk) for r in dec.feed(stream[k : k + chunk])]
    assert [r.tag_id for r in reads] == [i.hex().upper() for i in ids]
    assert not dec.stats.rejects and dec.stats.bytes_discarded == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(min_size=2, max_size=31).filter(lambda b: len(b) % 2 == 0),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 30),
    st.sampled_from([uhf_m100.M100, uhf_m100.R200]),
)
def test_uhf_roundtrip_any_epcs_any_chunking(tags, chunk, variant):
    stream = b"".join(
        uhf_m100.tag_notice(epc, rssi, pc=(len(epc) // 2) << 11, variant=variant)
        for epc, rssi in tags
    )
    dec = UhfM100Decoder(variant)
    reads = [r for k in range(0, len(stream), chunk) for r in dec.feed(stream[k : k + chunk])]
    assert [(r.tag_id, r.rssi_dbm) for r in reads] == [
        (epc.hex().upper(), rssi - 256 if rssi >= 128 else rssi) for epc, rssi in tags
    ]
