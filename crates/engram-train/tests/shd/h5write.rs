//! A minimal HDF5 writer for test fixtures, writing the same structures h5py does for the SHD
//! layout: superblock version 0 (8-byte offsets and lengths), version 1 object headers,
//! symbol-table groups (one v1 B-tree leaf, one symbol table node, one local heap per group),
//! contiguous 1-D datasets, and variable-length sequences stored in one global heap collection
//! per dataset. Nothing else (no chunking, filters, attributes or fill values).
//!
//! It exists because `hdf5-pure` (the crate the reader uses) writes variable-length strings but
//! has no public writer for variable-length sequences. Its output is checked by reading it
//! back with `read_shd`; h5py 3.16.0 (HDF5 2.0.0) reads it too, with the same values as the
//! h5py-written fixture (checked by hand when this was written).
//! Layouts follow the HDF5 file format specification version 3 (sections II.A, III.A-E, IV.A).

/// An element type.
#[derive(Clone, Copy)]
pub enum Elem {
    F32,
    U16,
    I64,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::U16 => 2,
            Elem::I64 => 8,
        }
    }

    /// The datatype message body (IV.A.2.d), little-endian IEEE / two's complement.
    fn datatype(self) -> Vec<u8> {
        let mut m = Vec::new();
        match self {
            Elem::F32 => {
                // class 1, version 1; byte order LE, mantissa normalisation 2 (implied msb),
                // sign at bit 31.
                m.extend([0x11, 0x20, 31, 0]);
                m.extend(4u32.to_le_bytes());
                m.extend(0u16.to_le_bytes()); // bit offset
                m.extend(32u16.to_le_bytes()); // precision
                m.extend([23, 8, 0, 23]); // exponent location, size, mantissa location, size
                m.extend(127u32.to_le_bytes());
            }
            Elem::U16 | Elem::I64 => {
                let signed = matches!(self, Elem::I64);
                let size = self.size() as u32;
                m.extend([0x10, if signed { 0x08 } else { 0 }, 0, 0]);
                m.extend(size.to_le_bytes());
                m.extend(0u16.to_le_bytes());
                m.extend((8 * size as u16).to_le_bytes());
            }
        }
        m
    }
}

/// A dataset's content, one element (or one sequence) per entry.
pub enum Data {
    /// Little-endian element bytes of a fixed-size type.
    Fixed(Elem, Vec<u8>),
    /// Variable-length sequences, each as little-endian element bytes.
    Vlen(Elem, Vec<Vec<u8>>),
}

impl Data {
    pub fn f32_seqs(seqs: &[Vec<f32>]) -> Data {
        Data::Vlen(
            Elem::F32,
            seqs.iter()
                .map(|s| s.iter().flat_map(|v| v.to_le_bytes()).collect())
                .collect(),
        )
    }

    pub fn u16_seqs(seqs: &[Vec<u16>]) -> Data {
        Data::Vlen(
            Elem::U16,
            seqs.iter()
                .map(|s| s.iter().flat_map(|v| v.to_le_bytes()).collect())
                .collect(),
        )
    }

    pub fn u16s(values: &[u16]) -> Data {
        Data::Fixed(
            Elem::U16,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    pub fn i64s(values: &[i64]) -> Data {
        Data::Fixed(
            Elem::I64,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }
}

/// A group member.
pub enum Node {
    Group(Vec<(String, Node)>),
    Dataset(Data),
}

const UNDEF: u64 = u64::MAX;
/// Group B-tree K values written in the superblock (the library defaults).
const LEAF_K: usize = 4;
const INTERNAL_K: usize = 16;

/// The bytes of an HDF5 file whose root group holds `root`.
pub fn write(root: &[(String, Node)]) -> Vec<u8> {
    let mut w = Writer { buf: vec![0; 96] };
    let (header, btree, heap) = w.group(root);
    let eof = w.buf.len() as u64;
    let mut sb = Vec::with_capacity(96);
    sb.extend(b"\x89HDF\r\n\x1a\n");
    // Superblock, free-space, root entry and shared-header versions 0; 8-byte offsets and lengths.
    sb.extend([0, 0, 0, 0, 0, 8, 8, 0]);
    sb.extend((LEAF_K as u16).to_le_bytes());
    sb.extend((INTERNAL_K as u16).to_le_bytes());
    sb.extend(0u32.to_le_bytes()); // consistency flags
    for addr in [0, UNDEF, eof, UNDEF] {
        // base, free space, end of file, driver info
        sb.extend(addr.to_le_bytes());
    }
    sb.extend(symbol_entry(0, header, Some((btree, heap))));
    w.buf[..96].copy_from_slice(&sb);
    w.buf
}

/// A 40-byte symbol table entry (III.C): name offset, header address, cache type and scratch
/// pad (the B-tree and local heap addresses for a group).
fn symbol_entry(name_offset: u64, header: u64, group: Option<(u64, u64)>) -> Vec<u8> {
    let mut e = Vec::with_capacity(40);
    e.extend(name_offset.to_le_bytes());
    e.extend(header.to_le_bytes());
    e.extend(u32::from(group.is_some()).to_le_bytes());
    e.extend(0u32.to_le_bytes());
    let (btree, heap) = group.unwrap_or((0, 0));
    e.extend(btree.to_le_bytes());
    e.extend(heap.to_le_bytes());
    e
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Appends `bytes` at an 8-byte aligned address and returns it.
    fn put(&mut self, bytes: &[u8]) -> u64 {
        self.buf.resize(self.buf.len().div_ceil(8) * 8, 0);
        let addr = self.buf.len() as u64;
        self.buf.extend(bytes);
        addr
    }

    /// A version 1 object header (IV.A.1.a) holding `messages` (type, body).
    fn object_header(&mut self, messages: &[(u16, Vec<u8>)]) -> u64 {
        let mut body = Vec::new();
        for (kind, data) in messages {
            let size = data.len().div_ceil(8) * 8;
            body.extend(kind.to_le_bytes());
            body.extend((size as u16).to_le_bytes());
            body.extend([0, 0, 0, 0]); // flags, reserved
            body.extend(data);
            body.resize(body.len() + size - data.len(), 0);
        }
        let mut h = vec![1, 0];
        h.extend((messages.len() as u16).to_le_bytes());
        h.extend(1u32.to_le_bytes()); // reference count
        h.extend((body.len() as u32).to_le_bytes());
        h.extend([0; 4]); // messages start 8-byte aligned
        h.extend(body);
        self.put(&h)
    }

    /// A dataset's storage and object header; returns the header's address.
    fn dataset(&mut self, data: &Data) -> u64 {
        let (count, datatype, raw) = match data {
            Data::Fixed(elem, bytes) => (bytes.len() / elem.size(), elem.datatype(), bytes.clone()),
            Data::Vlen(elem, seqs) => {
                let heap = self.global_heap(seqs);
                let mut raw = Vec::new();
                for (i, seq) in seqs.iter().enumerate() {
                    let n = (seq.len() / elem.size()) as u32;
                    raw.extend(n.to_le_bytes());
                    let (addr, index) = if n == 0 {
                        (0, 0u32)
                    } else {
                        (heap, i as u32 + 1)
                    };
                    raw.extend(addr.to_le_bytes());
                    raw.extend(index.to_le_bytes());
                }
                // class 9 version 1, a sequence; 16-byte references; then the base type.
                let mut dt = vec![0x19, 0, 0, 0];
                dt.extend(16u32.to_le_bytes());
                dt.extend(elem.datatype());
                (seqs.len(), dt, raw)
            }
        };
        let storage = if raw.is_empty() {
            UNDEF
        } else {
            self.put(&raw)
        };
        let mut space = vec![1, 1, 0, 0, 0, 0, 0, 0]; // version 1, rank 1, no max dims
        space.extend((count as u64).to_le_bytes());
        let mut layout = vec![3, 1]; // version 3, contiguous
        layout.extend(storage.to_le_bytes());
        layout.extend((raw.len() as u64).to_le_bytes());
        self.object_header(&[(0x0001, space), (0x0003, datatype), (0x0008, layout)])
    }

    /// One global heap collection (III.E) holding `seqs[i]` as object `i + 1` (empty ones
    /// are not stored), padded with a free-space object to at least 4096 bytes.
    fn global_heap(&mut self, seqs: &[Vec<u8>]) -> u64 {
        let mut objects = Vec::new();
        for (i, seq) in seqs.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            objects.extend((i as u16 + 1).to_le_bytes());
            objects.extend([0; 6]); // reference count, reserved
            objects.extend((seq.len() as u64).to_le_bytes());
            objects.extend(seq);
            objects.resize(objects.len().div_ceil(8) * 8, 0);
        }
        let used = 16 + objects.len();
        let size = used.max(4096 - 16) + 16; // room for the free-space object's header
        let mut c = b"GCOL\x01\0\0\0".to_vec();
        c.extend((size as u64).to_le_bytes());
        c.extend(objects);
        c.extend([0; 8]); // free-space object: index 0
        c.extend(((size - used) as u64).to_le_bytes());
        c.resize(size, 0);
        self.put(&c)
    }

    /// A group's members, local heap, symbol table node, B-tree and object header; returns
    /// the addresses of the header, B-tree and local heap.
    fn group(&mut self, members: &[(String, Node)]) -> (u64, u64, u64) {
        assert!(
            members.len() <= 2 * LEAF_K,
            "one symbol table node holds 2K entries"
        );
        let mut sorted: Vec<&(String, Node)> = members.iter().collect();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

        // Local heap data (III.D): the empty name at offset 0, then each name, 8-byte padded.
        let mut names = vec![0u8; 8];
        let mut entries = Vec::new();
        let mut last_name = 0;
        for (name, node) in sorted {
            let (header, group) = match node {
                Node::Dataset(data) => (self.dataset(data), None),
                Node::Group(children) => {
                    let (h, b, l) = self.group(children);
                    (h, Some((b, l)))
                }
            };
            last_name = names.len() as u64;
            names.extend(name.as_bytes());
            names.push(0);
            names.resize(names.len().div_ceil(8) * 8, 0);
            entries.extend(symbol_entry(last_name, header, group));
        }
        // One 16-byte free block at the end, as h5py leaves: libhdf5 reads the free list as
        // ending at offset 1, not at the undefined address, so an empty list is not written.
        let free = names.len() as u64;
        names.extend(1u64.to_le_bytes()); // next free block: none
        names.extend(16u64.to_le_bytes()); // this block's size
        let data = self.put(&names);
        let mut heap = b"HEAP\0\0\0\0".to_vec();
        heap.extend((names.len() as u64).to_le_bytes());
        heap.extend(free.to_le_bytes());
        heap.extend(data.to_le_bytes());
        let heap = self.put(&heap);

        let mut snod = b"SNOD\x01\0".to_vec();
        snod.extend((members.len() as u16).to_le_bytes());
        snod.extend(entries);
        snod.resize(8 + 2 * LEAF_K * 40, 0);
        let snod = self.put(&snod);

        // A leaf B-tree node (III.A.1) of type 0 (group) with one child; room for 2K.
        let mut tree = b"TREE\0\0".to_vec();
        tree.extend(1u16.to_le_bytes());
        tree.extend(UNDEF.to_le_bytes());
        tree.extend(UNDEF.to_le_bytes());
        for v in [0, snod, last_name] {
            tree.extend(v.to_le_bytes());
        }
        tree.resize(24 + (2 * INTERNAL_K + 1) * 8 + 2 * INTERNAL_K * 8, 0);
        let tree = self.put(&tree);

        let mut stab = tree.to_le_bytes().to_vec();
        stab.extend(heap.to_le_bytes());
        let header = self.object_header(&[(0x0011, stab)]);
        (header, tree, heap)
    }
}
