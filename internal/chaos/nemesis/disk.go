package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// fillerName is the file FillDisk writes in a node's data directory.
const fillerName = "nemesis-filler"

// PrepareDisk makes the node's data directory a filesystem of its own: a
// tmpfs of size bytes mounted over it, holding a copy of what was there (what
// Generate put there). Call it as root before the node first starts (a
// running node would keep writing to the directory underneath). A
// prepared node is a DiskFull target (Nodes sets Disk).
func (p *Processes) PrepareDisk(name string, size int64) error {
	if os.Geteuid() != 0 {
		return errors.New("prepare a disk: needs root (it mounts a tmpfs)")
	}
	if size <= 0 {
		return fmt.Errorf("prepare a disk for %s: size %d", name, size)
	}
	nd, err := p.node(name)
	if err != nil {
		return err
	}
	if pid, err := p.pid(name); err == nil {
		return fmt.Errorf("prepare a disk for %s: it is running (pid %d); prepare disks before the nodes start", name, pid)
	}
	dir, err := p.dataDir(nd)
	if err != nil {
		return fmt.Errorf("prepare a disk for %s: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.mu.disks[name]; ok {
		return fmt.Errorf("prepare a disk for %s: already prepared", name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("prepare a disk for %s: %w", name, err)
	}
	// Move what is there aside, mount, copy it in.
	aside := dir + ".nemesis-aside"
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("prepare a disk for %s: %w", name, err)
	}
	if err := copyTree(dir, aside); err != nil {
		return fmt.Errorf("prepare a disk for %s: copy aside: %w", name, err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		return fmt.Errorf("prepare a disk for %s: mount a tmpfs on %s: %w", name, dir, err)
	}
	if err := copyTree(aside, dir); err != nil {
		_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		return fmt.Errorf("prepare a disk for %s: copy into the tmpfs: %w", name, err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("prepare a disk for %s: %w", name, err)
	}
	p.mu.disks[name] = &disk{dir: dir, filler: filepath.Join(dir, fillerName)}
	return nil
}

func (p *Processes) disk(name string) (*disk, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.mu.disks[name]
	if !ok {
		// Never fill a disk that was not prepared: it is shared with the
		// rest of the machine.
		return nil, fmt.Errorf("%s has no prepared disk (PrepareDisk)", name)
	}
	return d, nil
}

// FillDisk writes the filler file in the node's tmpfs until the filesystem
// refuses (ENOSPC).
func (p *Processes) FillDisk(ctx context.Context, name string) error {
	d, err := p.disk(name)
	if err != nil {
		return fmt.Errorf("fill the disk: %w", err)
	}
	f, err := os.OpenFile(d.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return nil // already full
		}
		return fmt.Errorf("fill the disk of %s: %w", name, err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fill the disk of %s: %w", name, err)
		}
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return fmt.Errorf("fill the disk of %s: %w", name, err)
		}
	}
}

// FreeDisk removes the filler file.
func (p *Processes) FreeDisk(ctx context.Context, name string) error {
	d, err := p.disk(name)
	if err != nil {
		return fmt.Errorf("free the disk: %w", err)
	}
	if err := os.Remove(d.filler); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("free the disk of %s: %w", name, err)
	}
	return nil
}

// Cleanup unmounts every prepared disk, keeping what the node wrote (the
// data directory is copied back from the tmpfs, for a post-mortem). Call it
// after the nodes stopped.
func (p *Processes) Cleanup() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for name, d := range p.mu.disks {
		if err := unmountKeeping(d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		delete(p.mu.disks, name)
	}
	return errors.Join(errs...)
}

func unmountKeeping(d *disk) error {
	if err := os.Remove(d.filler); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	aside := d.dir + ".nemesis-aside"
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	copyErr := copyTree(d.dir, aside)
	// Detach: a node that is still running (or its enclave) keeps its open
	// files; the mount point is released at once.
	if err := syscall.Unmount(d.dir, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", d.dir, err)
	}
	if copyErr != nil {
		return fmt.Errorf("copy %s out of its tmpfs (its content is lost): %w", d.dir, copyErr)
	}
	if err := os.RemoveAll(d.dir); err != nil {
		return err
	}
	return os.Rename(aside, d.dir)
}

// copyTree copies the regular files, directories and symlinks under src
// into dst (created), keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case info.Mode().IsRegular():
			return copyFile(path, to, info.Mode().Perm())
		}
		return nil // sockets, fifos: nothing a node keeps across restarts
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
