package cgroups

func (m *manager) Stats() (*Stats, error) {
	st := &Stats{}
	if err := m.cpuStats(st); err != nil {
		return nil, err
	}
	if err := m.memoryStats(st); err != nil {
		return nil, err
	}
	if err := m.pidsStats(st); err != nil {
		return nil, err
	}
	return st, nil
}

func (m *manager) pidsStats(st *Stats) error {
	t, ok := m.target("pids")
	if !ok || !exists(t.dir, "pids.current") {
		return nil
	}
	var err error
	if st.Pids.Current, err = readUint(t.dir, "pids.current"); err != nil {
		return err
	}
	s, err := readFile(t.dir, "pids.max")
	if err != nil {
		return err
	}
	if s != "max" {
		st.Pids.Limit, err = parseUint(s, t.dir+"/pids.max")
	}
	return err
}
